// Exclusive locks on niso's shared state (the store's writers, the uid table, the networks), so
// e.g. gc never frees content an install is about to link. Each is a kernel flock(2) held by the host's flock(1) in a child whose
// stdin is our pipe: when niso exits or is killed, the pipe closes and the lock is released at
// once. (A lock file with a staleness timeout would make every run after a crash wait.)
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { spawnTool, missingTool } from './exec.js';
import { NisoError } from '../errors/niso-error.js';

const WAIT_SECONDS = 600;

/** `what` names the state in errors, e.g. "the store". */
export async function withLock<T>(lockPath: string, what: string, fn: () => Promise<T>): Promise<T> {
  await mkdir(dirname(lockPath), { recursive: true });
  await writeFile(lockPath, '', { flag: 'a' });
  const child = spawnTool('flock', ['--exclusive', '--wait', String(WAIT_SECONDS), lockPath, 'sh', '-c', 'echo locked; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = new Promise<number | null>((res, rej) => {
    child.on('error', (e: NodeJS.ErrnoException) => rej(e.code === 'ENOENT' ? missingTool('flock', e) : e));
    child.on('close', (code) => res(code));
  });
  const locked = new Promise<boolean>((res) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { if (d.includes('locked')) res(true); });
    void exited.then(() => res(false), () => res(false));
  });
  if (!(await locked)) {
    await exited;
    throw new NisoError('NISO2203', `could not lock ${what} (${lockPath})${stderr ? `: ${stderr.trim()}` : ''}`, { hint: `another niso command held it for over ${WAIT_SECONDS} s; wait for it to finish, then try again` });
  }
  try {
    return await fn();
  } finally {
    child.stdin!.end();
    await exited.catch(() => undefined);
  }
}
