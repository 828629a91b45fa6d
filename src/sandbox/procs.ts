// Finding the processes of a running sandbox (light: no renderer, no plan machinery).
import { readFileSync } from 'node:fs';

/**
 * The app: the first child of the sandbox's init (bubblewrap's pid 1 inside). An unsandboxed service has no init: its
 * starter recorded the app's own pid (launch.ts), which is then the app.
 */
export function appPid(initPid: number): number | null {
  try {
    if (readFileSync(`/proc/${initPid}/comm`, 'utf8') !== 'bwrap\n') return initPid;
    const children = readFileSync(`/proc/${initPid}/task/${initPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return children.length > 0 ? Number(children[0]) : null;
  } catch { return null; }
}
