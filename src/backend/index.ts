// Which backend runs a service: the name in its definition picks one implementation of the Backend interface. Each is
// loaded only when a service uses it: the embedded one brings the sandbox, the supervisor and the network code, which a
// switch of systemd services never runs (issue 17).
import type { BackendName } from '../service/model/types.js';
import type { Backend } from './types.js';

export type { Backend, Deactivated, Host, ServiceEntry } from './types.js';

export async function backendFor(name: BackendName): Promise<Backend> {
  if (name === 'systemd') return (await import('./systemd.js')).systemd;
  return (await import('./embedded.js')).embedded;
}
