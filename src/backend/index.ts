// Which backend runs a service: the name in its definition picks one implementation of the Backend interface. Each is
// loaded only when a service uses it: the embedded one brings the sandbox, the supervisor and the network code, which a
// switch of systemd services never runs (issue 17).
import type { BackendName } from '../service/model/types.js';
import type { Backend, Host } from './types.js';

export type { Backend, Deactivated, Host, ServiceEntry } from './types.js';

/** Which of these defined services run now, each backend asked once for all of its own (Backend.runningOf). */
export async function runningAmong(host: Host, defs: readonly { name: string; backend: BackendName }[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const b of new Set(defs.map((d) => d.backend))) {
    for (const n of (await backendFor(b)).runningOf(host, defs.filter((d) => d.backend === b).map((d) => d.name))) out.add(n);
  }
  return out;
}

export async function backendFor(name: BackendName): Promise<Backend> {
  if (name === 'systemd') return (await import('./systemd.js')).systemd;
  return (await import('./embedded.js')).embedded;
}
