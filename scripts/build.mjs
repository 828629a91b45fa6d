// Bundles the CLI with esbuild: one small entry plus lazily loaded chunks per command, so that
// `niso --version` and `niso list` start without parsing the manifest/TOML/zod machinery.
import { build } from 'esbuild';
import { rmSync, readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: { niso: 'src/cli/main.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  minifySyntax: true,
  chunkNames: 'chunks/[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  define: { NISO_VERSION: JSON.stringify(pkg.version) },
  // CommonJS dependencies call require() for node built-ins; give the ESM bundle a require.
  banner: { js: "import { createRequire as __nisoCreateRequire } from 'node:module'; const require = __nisoCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
