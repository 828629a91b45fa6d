// Decides which files of an app directory go into a package: walks the tree without following
// symlinks, applies the built-in excludes, .nisoignore (gitignore syntax) and [copy], and refuses
// what a package must not hold (links out of the app, device nodes, FIFOs, sockets).
// Synchronous calls on purpose: the walk is sequential, and for trees of 10,000+ files the
// thread-pool round trip of each async lstat costs more than the syscall itself.
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import ignore from 'ignore';
import picomatch from 'picomatch';
import { NisoError } from '../errors/niso-error.js';
import { comparePaths, symlinkStaysInside } from './format/package-index.js';

export interface SelectedFile { path: string; type: 'file'; abs: string; mode: 0o644 | 0o755; size: number }
export interface SelectedLink { path: string; type: 'symlink'; target: string }
export type Selected = SelectedFile | SelectedLink;

/** Always left out: VCS metadata, packages themselves, and the manifest (stored apart in niso/). */
const BUILTIN_IGNORE = ['.git/', '.hg/', '.svn/', '*.niso', '.nisoignore', '/manifest.toml'];

function matcher(patterns: string[]): (path: string) => boolean {
  if (patterns.length === 0) return () => false;
  // A pattern naming a directory also takes everything below it (`node_modules` = `node_modules/**`).
  const ms = patterns.flatMap((p) => {
    const clean = p.replace(/\/+$/, '');
    return [picomatch(clean, { dot: true }), picomatch(`${clean}/**`, { dot: true })];
  });
  return (path) => ms.some((m) => m(path));
}

export async function selectFiles(appDir: string, include: string[], exclude: string[]): Promise<Selected[]> {
  const ig = ignore().add(BUILTIN_IGNORE);
  try {
    ig.add(readFileSync(join(appDir, '.nisoignore'), 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const included = matcher(include);
  const excluded = matcher(exclude);
  const out: Selected[] = [];

  function walk(rel: string): void {
    const abs = rel === '' ? appDir : join(appDir, rel);
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch (e) {
      throw new NisoError('NISO2007', `cannot read directory ${abs}: ${(e as Error).message}`, { path: abs, cause: e });
    }
    names.sort(comparePaths);
    for (const name of names) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const full = join(appDir, path);
      const st = lstatSync(full);
      if (st.isDirectory()) {
        if (ig.ignores(`${path}/`) || excluded(path)) continue;
        walk(path);
        continue;
      }
      if (ig.ignores(path) || excluded(path) || !included(path)) continue;
      if (st.isFile()) {
        out.push({ path, type: 'file', abs: full, mode: st.mode & 0o111 ? 0o755 : 0o644, size: st.size });
      } else if (st.isSymbolicLink()) {
        const target = readlinkSync(full);
        if (!symlinkStaysInside(path, target)) {
          throw new NisoError('NISO2002', `${full}: symlink points outside the app directory ("${target}")`, {
            path: full, exitCode: 2,
            hint: `replace it with the file it points to, or leave it out with an exclude pattern: add "${path}" to [copy] exclude or .nisoignore`,
          });
        }
        out.push({ path, type: 'symlink', target });
      } else {
        const kind = st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device' : 'a special file';
        throw new NisoError('NISO2003', `${full} is ${kind}; packages hold only regular files, directories and symlinks`, {
          path: full, exitCode: 2, hint: `leave it out: add "${path}" to [copy] exclude or .nisoignore`,
        });
      }
    }
  }
  walk('');
  return out;
}
