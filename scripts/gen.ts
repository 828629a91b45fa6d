// `npm run gen`: writes the files generated from the manifest and stack schemas (JSON Schemas, docs, the
// README section). `--check` writes nothing and exits 1 when a file is out of date, for CI.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedFiles } from '../src/manifest/reference.js';
import { stackGeneratedFiles } from '../src/stack/reference.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const read = (rel: string): string | undefined => (existsSync(join(root, rel)) ? readFileSync(join(root, rel), 'utf8') : undefined);

const stale: string[] = [];
for (const { path, content } of [...generatedFiles(read('README.md')), ...stackGeneratedFiles()]) {
  if (read(path) === content) continue;
  stale.push(path);
  if (check) continue;
  const target = join(root, path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(`${target}.tmp`, content);
  renameSync(`${target}.tmp`, target);
  process.stdout.write(`wrote ${path}\n`);
}
if (check && stale.length > 0) {
  process.stderr.write(`out of date: ${stale.join(', ')}\n  hint: run \`npm run gen\` and commit the result\n`);
  process.exit(1);
}
if (stale.length === 0) process.stdout.write('generated files are up to date\n');
