// How run, activate and inspect read a package reference: a bare NAME is always the installed
// package, whatever the current directory holds (`niso run hello` in a directory with ./hello in
// it once ran ./hello); a path is written as one.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { NisoError, isNisoError } from '../errors/niso-error.js';

export type PackageRef = { kind: 'installed'; ref: string } | { kind: 'file'; path: string } | { kind: 'dir'; path: string };

/** ".", "..", anything with a "/", and a NAME.niso that exists; anything else names an installed package. */
export function packageRef(cwd: string, ref: string): PackageRef {
  const path = resolve(cwd, ref);
  const isPath = ref === '.' || ref === '..' || ref.includes('/');
  if (!isPath && !ref.endsWith('.niso')) return { kind: 'installed', ref };
  const st = statSync(path, { throwIfNoEntry: false });
  if (st?.isFile()) return { kind: 'file', path };
  if (st?.isDirectory()) return { kind: 'dir', path };
  // A name ending in .niso that is no file here may still be an installed package's name.
  if (!isPath && !st) return { kind: 'installed', ref };
  throw new NisoError('NISO2009', st ? `${ref} is neither a package file nor a directory` : `${ref}: no such file or directory`, {
    path, exitCode: 2, hint: 'a bare NAME[:VERSION] means an installed package; a path (with a "/", or "." for the current directory) a FILE.niso or an app directory',
  });
}

/** For commands that take a package file but not an app directory to pack. */
export function noDirectory(ref: PackageRef, command: string): asserts ref is Exclude<PackageRef, { kind: 'dir' }> {
  if (ref.kind === 'dir') throw new NisoError('NISO2009', `niso ${command} takes a FILE.niso or an installed package, not the directory ${ref.path}`, { path: ref.path, exitCode: 2, hint: `pack it first: niso pack ${ref.path}` });
}

/** An installed package that is not there, while ./NAME is: say how to mean the path. */
export function notInstalledHere(cwd: string, ref: string, e: unknown): unknown {
  if (!isNisoError(e) || e.code !== 'NISO2201' || !statSync(resolve(cwd, ref), { throwIfNoEntry: false })) return e;
  return new NisoError(e.code, e.message, { exitCode: e.exitCode, hint: `a bare name means an installed package; for the ${ref} in this directory, write ./${ref}` });
}
