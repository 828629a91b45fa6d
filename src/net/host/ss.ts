// Which host processes listen on which ports (`ss`), so that a port mapping never silently steals
// the traffic of a process on the host: niso's DNAT runs before the packet reaches the socket.
import { parseSsListeners } from '../model/ports.js';
import type { Listener } from '../model/types.js';
import { must } from './tools.js';

export async function hostListeners(protocols: readonly ('tcp' | 'udp')[] = ['tcp', 'udp']): Promise<Listener[]> {
  const out: Listener[] = [];
  for (const p of protocols) {
    const text = await must('ss', ['-H', '-l', '-n', '-p', p === 'tcp' ? '-t' : '-u']);
    out.push(...parseSsListeners(text, p));
  }
  return out;
}
