// Lint: typescript-eslint's recommended rules, plus the architecture rule that pure folders
// (data in, data out) never import the filesystem, processes or host adapters.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const hostModules = ['fs', 'fs/promises', 'child_process', 'net', 'dgram', 'http', 'https', 'os', 'worker_threads', 'cluster', 'process'];
const pureRule = {
  'no-restricted-imports': ['error', {
    paths: hostModules.flatMap((m) => [
      { name: `node:${m}`, message: 'pure folders must not touch the host; take the data as a parameter or move the code to an impure folder' },
      { name: m, message: 'pure folders must not touch the host' },
    ]),
    patterns: [{ group: ['**/host/*', '**/host'], message: 'pure folders must not import host adapters' }],
  }],
  'no-restricted-globals': ['error', { name: 'process', message: 'pure folders must not read process state' }],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/.cache/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', Buffer: 'readonly', fetch: 'readonly', AbortController: 'readonly', performance: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  { files: ['src/manifest/**', 'src/errors/**', 'src/package/format/**', 'src/store/layout.ts', 'src/plan/**', 'src/render/**', 'src/runtime/types.ts', 'src/runtime/ldd-output.ts', 'src/runtime/select.ts', 'src/runtime/mounts.ts', 'src/runtime/packument.ts', 'src/net/model/**', 'src/service/model/**', 'src/service/health/state.ts', 'src/service/health/messages.ts', 'src/service/stats/parse.ts', 'src/service/stats/compute.ts', 'src/service/stats/format.ts', 'src/volume/names.ts', 'src/volume/policy.ts', 'src/volume/filters.ts', 'src/volume/backup-format.ts', 'src/audit/*.ts', 'src/registry/*.ts', 'src/generation/types.ts', 'src/generation/hash.ts', 'src/generation/diff.ts', 'src/generation/retention.ts', 'src/generation/edit.ts', 'src/generation/data-plan.ts', 'src/volume/snapshot-policy.ts', 'src/stack/**', 'src/runtime/version.ts'], rules: pureRule },
);
