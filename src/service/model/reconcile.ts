// What a service's records mean after a niso command was killed in the middle of a start. The service's cgroup (or
// its unit) is the identity of a running service, whatever state.json says; the start request in service.json is the
// intent, written before the start does anything. Pure: the callers gather the facts (running.ts, systemd/status.ts).
import type { ServiceDefinition, ServiceState, StartRequest } from './types.js';

export interface StartFacts {
  /** The service's processes run: its cgroup (or its unit) has processes. */
  running: boolean;
  /** A run began after the pending request was made (the sandbox reported its start, or systemd started the unit). */
  ranSinceRequest: () => boolean;
  /** The process that made the pending request still runs. */
  requesterAlive: () => boolean;
}

/**
 * settled: state.json tells the truth. starting: a start is under way (its requester runs). unrecorded-run: a run
 * that state.json does not record (its starter was killed after the start, before writing it): adopt it.
 * interrupted: the requested start never ran and its requester is gone: fall back to what was desired before.
 */
export type StartOutcome = 'settled' | 'starting' | 'unrecorded-run' | 'interrupted';

/** The start request whose outcome state.json does not record yet. */
export function pendingStart(def: ServiceDefinition, state: ServiceState): StartRequest | null {
  return def.start && def.start.id !== state.start ? def.start : null;
}

export function startOutcome(def: ServiceDefinition, state: ServiceState, facts: StartFacts): StartOutcome {
  const pending = pendingStart(def, state);
  if (pending === null) return facts.running && state.pid === null ? 'unrecorded-run' : 'settled';
  if (facts.requesterAlive()) return 'starting';
  return facts.running || facts.ranSinceRequest() ? 'unrecorded-run' : 'interrupted';
}

/**
 * The records after an interrupted start: `desired` as before the request, nothing running, and a message that says
 * what happened. A service that was wanted before (a restart, a boot) waits to be started again at once.
 */
export function afterInterrupted(def: ServiceDefinition, state: ServiceState, now: Date): { def: ServiceDefinition; state: ServiceState } {
  const req = def.start!;
  const at = now.toISOString();
  const why = `its start was interrupted: the niso command that made it (pid ${req.by.pid}) ended before ${def.name} ran`;
  const again = req.desiredBefore === 'active';
  return {
    def: { ...def, desired: req.desiredBefore },
    state: {
      ...state, start: req.id, pid: null, pidStart: null, initPid: null, since: at,
      state: again ? 'restarting' : state.state === 'failed' ? 'failed' : 'inactive',
      nextRestartAt: again ? at : null,
      message: again ? `${why}; starting it again` : `${why}; start it with \`niso activate ${def.name}\``,
    },
  };
}

/** A start request made now by `by`, superseding any earlier one; `desiredBefore` is what it falls back to. */
export function startRequest(desiredBefore: StartRequest['desiredBefore'], by: StartRequest['by'], id: string, now: Date): StartRequest {
  return { id, by, at: now.toISOString(), desiredBefore };
}
