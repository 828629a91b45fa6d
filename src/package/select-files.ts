// Decides which files of an app directory go into a package: walks the tree without following
// symlinks, applies the built-in excludes, .nisoignore (gitignore syntax) and [copy], and refuses
// what a package must not hold (links out of the app, device nodes, FIFOs, sockets, names that
// are not UTF-8, paths too long to install).
// Synchronous calls on purpose: the walk is sequential, and for trees of 10,000+ files the
// thread-pool round trip of each async lstat costs more than the syscall itself.
import { lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { join } from 'node:path';
import ignore from 'ignore';
import picomatch from 'picomatch';
import { NisoError } from '../errors/niso-error.js';
import { MAX_PATH_BYTES, comparePaths, symlinkStaysInside } from './format/package-index.js';

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

/** Linux's PATH_MAX counts the terminating NUL: a path has at most 4095 bytes. */
const PATH_MAX = 4096;

/** A name with its undecodable bytes as \xNN, and as a .nisoignore pattern with `*` in their place. */
export function escapeName(raw: Buffer): { shown: string; pattern: string } {
  let shown = '';
  let pattern = '';
  let wild = false;
  for (let i = 0; i < raw.length;) {
    const b = raw[i]!;
    const len = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    const seq = len > 0 ? raw.subarray(i, i + len) : null;
    if (seq && seq.length === len && isUtf8(seq)) {
      const text = seq.toString('utf8');
      shown += text === '\\' ? '\\\\' : text;
      pattern += /^[*?[\\]$/.test(text) ? `\\${text}` : text;
      wild = false;
      i += len;
    } else {
      shown += `\\x${b.toString(16).toUpperCase().padStart(2, '0')}`;
      if (!wild) pattern += '*';
      wild = true;
      i++;
    }
  }
  return { shown, pattern: /^[#!]/.test(pattern) ? `\\${pattern}` : pattern };
}

function notUtf8(appDir: string, rel: string, raw: Buffer, what: 'name' | 'target', linkPath?: string): NisoError {
  const { shown, pattern } = escapeName(raw);
  const parent = rel === '' ? '' : `${rel}/`;
  const path = what === 'name' ? `${parent}${shown}` : linkPath!;
  return new NisoError('NISO2115', what === 'name'
    ? `${join(appDir, path)}: the file name is not valid UTF-8 (undecodable bytes shown as \\xNN); package paths are UTF-8 text, so it cannot be packed as it is`
    : `${join(appDir, path)}: the symlink's target "${shown}" is not valid UTF-8 (undecodable bytes shown as \\xNN); package paths are UTF-8 text`, {
    path: join(appDir, path), exitCode: 2,
    hint: `rename it${what === 'target' ? ' (or its target)' : ''}, or leave it out: add "${what === 'name' ? `${parent}${pattern}` : linkPath}" to .nisoignore or [copy] exclude`,
  });
}

/** A long path shortened for a message: its start and its end. */
const shorten = (p: string) => (p.length > 200 ? `${p.slice(0, 90)}…${p.slice(-90)}` : p);

function tooLong(appDir: string, rel: string, absolute: boolean): NisoError {
  const full = join(appDir, rel);
  const top = rel.split('/').slice(0, 2).join('/');
  return new NisoError('NISO2116', absolute
    ? `${shorten(full)}: the path is ${Buffer.byteLength(full)} bytes long, more than Linux allows for a path (${PATH_MAX - 1})`
    : `${shorten(full)}: the path inside the app is ${Buffer.byteLength(rel)} bytes long; packages hold paths of up to ${MAX_PATH_BYTES} bytes, so that they fit below the store directory`, {
    path: full, exitCode: 2,
    hint: `leave it out: add "${top}/" (or a deeper part of it) to .nisoignore or [copy] exclude${absolute ? ', or move the app to a shorter directory' : ''}`,
  });
}

const unreadable = (path: string, e: unknown) => new NisoError('NISO2007', `cannot read ${path}: ${(e as Error).message}`, { path, cause: e });

function readIgnoreFile(appDir: string): string | null {
  const file = join(appDir, '.nisoignore');
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'EISDIR') throw new NisoError('NISO2007', `${file} is a directory; .nisoignore must be a file of patterns (gitignore syntax)`, { path: file, exitCode: 2, hint: `rename or remove the directory ${file}` });
    throw unreadable(file, e);
  }
}

/**
 * The raw names of a directory's entries that are not UTF-8, by the name readdir gave them (with
 * U+FFFD for each undecodable byte). Read only for a directory where such a name appeared.
 */
function undecodableNames(abs: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const raw of readdirSync(abs, { encoding: 'buffer' })) if (!isUtf8(raw)) out.set(raw.toString('utf8'), raw);
  return out;
}

export async function selectFiles(appDir: string, include: string[], exclude: string[]): Promise<Selected[]> {
  const ig = ignore().add(BUILTIN_IGNORE);
  const ignoreText = readIgnoreFile(appDir);
  if (ignoreText !== null) ig.add(ignoreText);
  const included = matcher(include);
  const excluded = matcher(exclude);
  const out: Selected[] = [];
  const lstat = (path: string | Buffer, rel: string): Stats => {
    try {
      return lstatSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENAMETOOLONG') throw tooLong(appDir, rel, true);
      throw unreadable(String(path), e);
    }
  };

  function walk(rel: string): void {
    const abs = rel === '' ? appDir : join(appDir, rel);
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENAMETOOLONG') throw tooLong(appDir, rel, true);
      throw new NisoError('NISO2007', `cannot read directory ${abs}: ${(e as Error).message}`, { path: abs, cause: e });
    }
    names.sort(comparePaths);
    let undecodable: Map<string, Buffer> | null = null;
    for (const name of names) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const full = join(appDir, path);
      if (path.length * 3 > MAX_PATH_BYTES && Buffer.byteLength(path) > MAX_PATH_BYTES) throw tooLong(appDir, path, false);
      // readdir decodes names as UTF-8 and puts U+FFFD where it cannot: such a name is found
      // again by its raw bytes, to be left out by .nisoignore or refused.
      const raw = name.includes('\uFFFD') ? (undecodable ??= undecodableNames(abs)).get(name) : undefined;
      const st = lstat(raw ? Buffer.concat([Buffer.from(`${abs}/`), raw]) : full, path);
      if (st.isDirectory()) {
        if (ig.ignores(`${path}/`) || excluded(path)) continue;
        if (raw) throw notUtf8(appDir, rel, raw, 'name');
        walk(path);
        continue;
      }
      if (ig.ignores(path) || excluded(path) || !included(path)) continue;
      if (raw) throw notUtf8(appDir, rel, raw, 'name');
      if (st.isFile()) {
        out.push({ path, type: 'file', abs: full, mode: st.mode & 0o111 ? 0o755 : 0o644, size: st.size });
      } else if (st.isSymbolicLink()) {
        let rawTarget: Buffer;
        try { rawTarget = readlinkSync(full, { encoding: 'buffer' }); } catch (e) { throw unreadable(full, e); }
        if (!isUtf8(rawTarget)) throw notUtf8(appDir, rel, rawTarget, 'target', path);
        const target = rawTarget.toString('utf8');
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
