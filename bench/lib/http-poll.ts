// Finds the moment a server first answers HTTP 200 on a loopback port, as a client polling in a
// tight loop would: a new connection per attempt, the next one a millisecond after a refusal, and
// an extra attempt in parallel when one hangs (a SYN dropped while rules or interfaces are half
// set up would otherwise cost a whole retransmission timeout).
import { request, type ClientRequest } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface FirstOk {
  /** performance.now() when the 200's status line arrived. */
  atMs: number;
  attempts: number;
  /** Attempts that had no answer after stallMs, so another one was started beside them. */
  stalled: number;
}

export interface PollOptions {
  host?: string;
  path?: string;
  /** Pause after a failed attempt before the next one. */
  gapMs?: number;
  stallMs?: number;
  /** Attempts in flight at most (parallel chains started by stalls). */
  maxInFlight?: number;
  timeoutMs?: number;
}

export interface Poll {
  done: Promise<FirstOk>;
  /** Stops polling; `done` rejects unless it already settled. */
  cancel: (why: string) => void;
}

export function pollFirstOk(port: number, o: PollOptions = {}): Poll {
  const host = o.host ?? '127.0.0.1';
  const path = o.path ?? '/';
  const gapMs = o.gapMs ?? 1;
  const stallMs = o.stallMs ?? 25;
  const maxInFlight = o.maxInFlight ?? 8;
  const timeoutMs = o.timeoutMs ?? 30_000;
  const inflight = new Set<ClientRequest>();
  const timers = new Set<NodeJS.Timeout>();
  let finished = false;
  let chains = 0;
  let attempts = 0;
  let stalled = 0;
  let cancel: (why: string) => void = () => undefined;
  const done = new Promise<FirstOk>((resolve, reject) => {
    const stopAll = () => {
      finished = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const r of inflight) r.destroy();
      inflight.clear();
    };
    const later = (ms: number, f: () => void) => {
      const t = setTimeout(() => { timers.delete(t); f(); }, ms);
      timers.add(t);
      return t;
    };
    cancel = (why) => { if (!finished) { stopAll(); reject(new Error(why)); } };
    later(timeoutMs, () => cancel(`no HTTP 200 from ${host}:${port}${path} within ${timeoutMs} ms (${attempts} attempts)`));
    const attempt = () => {
      if (finished) return;
      attempts++;
      let settled = false;
      const req = request({ host, port, path, method: 'GET', agent: false }, (res) => {
        const at = performance.now();
        res.resume();
        if (res.statusCode === 200 && !finished) {
          stopAll();
          resolve({ atMs: at, attempts, stalled });
        } else {
          fail();
        }
      });
      const stall = later(stallMs, () => {
        if (settled || finished) return;
        stalled++;
        if (chains < maxInFlight) { chains++; attempt(); }
      });
      const fail = () => {
        if (settled) return;
        settled = true;
        clearTimeout(stall);
        timers.delete(stall);
        inflight.delete(req);
        if (!finished) later(gapMs, attempt);
      };
      req.on('error', fail);
      req.on('close', fail);
      inflight.add(req);
      req.end();
    };
    chains = 1;
    attempt();
  });
  return { done, cancel: (why) => cancel(why) };
}
