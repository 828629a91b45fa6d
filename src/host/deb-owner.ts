// Which Debian package has a library the loader cannot find, as far as this host can tell, in bounded time: dpkg's
// own file lists (an installed package with a file of that name somewhere else), apt-file when it is installed, and
// apt's Contents indexes when apt fetched them. Only to make an error say what to install; a failure or a timeout of
// any source just means that source could not tell.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { bestOwners, LOOKUP_NAME, parseAptFileSearch, parseContentsLines, parseDpkgSearch, type FileOwner, type LibraryOwners } from '../package/deb/apt-output.js';
import { hostArchNames } from './arch.js';

export interface OwnerLookupOptions {
  /** Where apt keeps its lists (and the Contents indexes, when it fetched any). */
  listsDir?: string;
  /** The whole lookup's time, over every source. */
  timeoutMs?: number;
}

const ENV = { LC_ALL: 'C', PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
/** More than this from one source is noise, not an answer (a name found everywhere). */
const MAX_OUTPUT = 1024 * 1024;

/** A tool's stdout, cut at MAX_OUTPUT and at the deadline (its whole process group is killed); null when it could not run. */
function capture(cmd: string, args: string[], deadline: number): Promise<{ code: number | null; stdout: string } | null> {
  const left = deadline - Date.now();
  if (left <= 0) return Promise.resolve(null);
  return new Promise((done) => {
    let out = '';
    let finished = false;
    const child = spawn(cmd, args, { env: ENV, stdio: ['ignore', 'pipe', 'ignore'], detached: true });
    const stop = () => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone already */ } };
    const timer = setTimeout(stop, left);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.length > MAX_OUTPUT) stop();
    });
    const end = (r: { code: number | null; stdout: string } | null) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      done(r);
    };
    child.on('error', () => end(null));
    child.on('close', (code) => end({ code, stdout: out }));
  });
}

const ereEscape = (s: string) => s.replace(/[.[\]()*+?{}|^$\\]/g, '\\$&');

/**
 * For each library name, the Debian packages this host knows to have it. Names that are not plain file names are
 * not asked about (they come from a binary's DT_NEEDED, which anyone can write).
 */
export async function findLibraryOwners(names: readonly string[], opts: OwnerLookupOptions = {}): Promise<LibraryOwners[]> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  const multiarch = hostArchNames()?.multiarch ?? 'x86_64-linux-gnu';
  const asked = [...new Set(names)].filter((n) => LOOKUP_NAME.test(n));
  const installed: FileOwner[] = [];
  const available: FileOwner[] = [];
  if (asked.length > 0) {
    // dpkg -S: an installed package's file of that name (exit 1 when some pattern matched nothing: still an answer).
    const d = await capture('dpkg', ['-S', ...asked.map((n) => `*/${n}`)], deadline);
    if (d) installed.push(...parseDpkgSearch(d.stdout));
  }
  const unanswered = () => asked.filter((n) => bestOwners(n, available, multiarch).length === 0);
  const pattern = (ns: string[]) => `/(${ns.map(ereEscape).join('|')})`;
  if (unanswered().length > 0 && ['/usr/bin/apt-file', '/bin/apt-file'].some((p) => existsSync(p))) {
    const a = await capture('apt-file', ['search', '--regexp', `${pattern(unanswered())}$`], deadline);
    if (a) available.push(...parseAptFileSearch(a.stdout));
  }
  const contents = contentsIndexes(opts.listsDir ?? '/var/lib/apt/lists');
  if (unanswered().length > 0 && contents.length > 0) {
    // apt-helper reads any compression apt uses; grep keeps the lines of these names only.
    const script = 'p=$1; shift; for f do /usr/lib/apt/apt-helper cat-file "$f"; done | grep -E -- "$p"';
    const c = await capture('/bin/sh', ['-c', script, 'sh', `${pattern(unanswered())}[[:space:]]`, ...contents], deadline);
    if (c) available.push(...parseContentsLines(c.stdout));
  }
  return [...new Set(names)].map((name) => ({ name, installed: bestOwners(name, installed, multiarch), available: bestOwners(name, available, multiarch) }));
}

/** apt's Contents indexes for this host's architecture, as `apt-get update` keeps them when apt-file asked for them. */
function contentsIndexes(dir: string): string[] {
  const arch = hostArchNames()?.debian ?? 'amd64';
  let names: string[];
  try { names = readdirSync(dir); } catch { return []; }
  return names.filter((n) => new RegExp(`_Contents-${arch}(?:\\.[a-z0-9]+)?$`).test(n)).sort().map((n) => join(dir, n));
}
