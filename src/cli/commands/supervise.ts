// `niso __supervise`: the embedded supervisor's process (service/supervisor.ts), started by the CLI. A module of its
// own, run by main.ts without commander, so that the long-lived process holds only what supervising needs: its heap
// keeps every module it loaded (issue 17).
import type { Context } from '../context.js';
import { hostOf } from './host-of.js';

export async function supervise(ctx: Context): Promise<void> {
  const { supervise: loop } = await import('../../service/supervisor.js');
  const { supervisorHooks } = await import('../../service/hooks.js');
  // exec health checks run like `niso exec` (loaded only when a service has one).
  await loop(hostOf(ctx), supervisorHooks({
    exec: (root, name, plan, state) => async (argv, timeoutMs) => {
      const [{ execInService }, { cgroupOf }] = await Promise.all([import('../../service/exec.js'), import('../../service/running.js')]);
      const r = await execInService({ plan, initPid: state.initPid!, cgroupProcsFiles: cgroupOf(root, name).procsFiles, argv, timeoutMs, stdio: 'pipe' });
      return { exitCode: r.exitCode, output: r.output ?? '' };
    },
  }));
}
