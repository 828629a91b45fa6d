// Bundles the CLI with esbuild: one small entry plus lazily loaded chunks per command, so that
// `niso --version` and `niso list` start without parsing the manifest/TOML/zod machinery.
import { build } from 'esbuild';
import { rmSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * zod's `z` namespace re-exports every locale (`z.locales`, ~340 KB of the bundle), so each command that validates
 * anything parsed them all at start. niso never switches zod's locale; English, which zod installs by itself
 * (classic/schemas.js imports locales/en.js directly), is all that stays.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({
      contents: 'export { default as en } from "./en.js";\n', loader: 'js', resolveDir: dirname(args.path),
    }));
  },
};

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
  plugins: [zodEnglishOnly],
  logLevel: 'warning',
});
