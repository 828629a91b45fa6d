// Reading the store: which packages are installed, and which one a user's reference names
// (NAME, NAME:VERSION, or a digest prefix as in `docker image ls`).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseIndex, type PackageIndex } from '../package/format/package-index.js';
import type { InstalledPackage } from './installed.js';

export { listInstalled, type InstalledPackage } from './installed.js';
export { matchRef, parseRef, resolveOne } from './resolve.js';

export async function readInstalledIndex(pkg: InstalledPackage): Promise<{ index: PackageIndex; manifestText: string }> {
  const [indexText, manifestText] = await Promise.all([readFile(join(pkg.path, 'niso/index.json'), 'utf8'), readFile(join(pkg.path, 'niso/manifest.toml'), 'utf8')]);
  return { index: parseIndex(indexText, pkg.path), manifestText };
}
