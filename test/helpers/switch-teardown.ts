// The end of a switch suite's file (switch.test.ts, switch-data.test.ts): whatever a failed case left of each root it
// made goes, so that no service, cgroup or network outlives the file: the supervisor killed, every service deactivated
// (with `extra` flags), the roots' service cgroups emptied and removed, then the root's directory with its networks.
import { readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeTestDir } from './tmp.js';

export interface TeardownEnv { root: string; dir: string; id: string }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const list = (dir: string): string[] => { try { return readdirSync(dir); } catch { return []; } };

export async function teardownRoots(envs: readonly TeardownEnv[], deactivate: (e: TeardownEnv, name: string) => void): Promise<void> {
  for (const e of envs) {
    try {
      const r = JSON.parse(readFileSync(join(e.root, 'run/niso/supervisor.json'), 'utf8')) as { pid: number };
      process.kill(r.pid, 'SIGKILL');
    } catch { /* none */ }
    for (const n of list(join(e.root, 'var/lib/niso/services'))) if (!n.startsWith('.')) deactivate(e, n);
    for (const c of ['pids', 'memory', 'cpu']) {
      const base = join('/sys/fs/cgroup', c, 'niso');
      for (const n of list(base)) {
        if (!n.startsWith(`svc.${e.id}.`)) continue;
        try { for (const p of readFileSync(join(base, n, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ }
        await sleep(50);
        try { rmdirSync(join(base, n)); } catch { /* busy */ }
      }
    }
    await removeTestDir(e.dir);
  }
}
