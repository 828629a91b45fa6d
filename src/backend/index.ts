// Which backend runs a service: the name in its definition picks one implementation of the Backend interface. The
// systemd one is loaded only when a service uses it.
import type { BackendName } from '../service/model/types.js';
import { embedded } from './embedded.js';
import type { Backend } from './types.js';

export type { Backend, Deactivated, Host, ServiceEntry } from './types.js';

export async function backendFor(name: BackendName): Promise<Backend> {
  if (name === 'systemd') return (await import('./systemd.js')).systemd;
  return embedded;
}
