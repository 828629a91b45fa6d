// How a run's end is recorded (its exit, the restart policy's verdict and when the next try is due): shared by the
// embedded supervisor and the systemd backend's exit unit, and a module of its own so that `niso status`, which reads
// the systemd exit code, does not load the supervisor (and through it the whole start path).
import { withExit, type ExitRecord, type ServiceDefinition, type ServiceState } from './model/types.js';
import { judgeEnd } from './running.js';
import { writeState } from './store.js';

/** Records how a run ended and what comes next (restart later, or stay down). Lock held. */
export async function recordEnd(root: string, name: string, state: ServiceState, exit: ExitRecord, def: ServiceDefinition): Promise<ServiceState> {
  const decision = judgeEnd(root, name, state, exit, def.desired);
  const now = new Date();
  const next: ServiceState = {
    ...state, pid: null, pidStart: null, initPid: null, exits: withExit(state.exits, { ...exit, message: exit.message ?? decision.message }, def.package.digest),
    since: now.toISOString(), state: decision.state, message: decision.message,
    nextRestartAt: decision.action === 'restart' ? new Date(now.getTime() + decision.delayMs).toISOString() : null,
    restartsInARow: decision.action === 'restart' ? decision.restartsInARow : state.restartsInARow,
  };
  await writeState(root, name, next);
  return next;
}
