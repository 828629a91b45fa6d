// Which host processes listen on which ports (`ss`), so that a port mapping never silently steals
// the traffic of a process on the host: niso's DNAT runs before the packet reaches the socket.
import { parseSsListeners } from '../model/ports.js';
import type { Listener } from '../model/types.js';
import { must } from './tools.js';

/**
 * The host's listening sockets. With `near` (the host ports about to be mapped), ss is asked first without -p, which
 * spares it a walk over every process's descriptors (about 6 ms of the 16 ms `ss -p` takes on a quiet machine), and
 * asked again with -p, to name the owning processes for the conflict error, only when a listener sits on one of them.
 */
export async function hostListeners(protocols: readonly ('tcp' | 'udp')[] = ['tcp', 'udp'], near?: readonly { from: number; to: number }[]): Promise<Listener[]> {
  const list = async (owners: boolean) => {
    const out: Listener[] = [];
    for (const p of protocols) {
      const text = await must('ss', ['-H', '-l', '-n', ...(owners ? ['-p'] : []), p === 'tcp' ? '-t' : '-u']);
      out.push(...parseSsListeners(text, p));
    }
    return out;
  };
  if (!near) return list(true);
  const bare = await list(false);
  return bare.some((l) => near.some((r) => l.port >= r.from && l.port <= r.to)) ? list(true) : bare;
}
