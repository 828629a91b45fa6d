// Free TCP ports on 127.0.0.1 for tests that map ports. Ports picked together are held open together until all are
// chosen: two separate picks could get the same port back from the kernel (a test then mapped one port twice).
import { createServer, type Server } from 'node:net';

export async function freePorts(n: number): Promise<number[]> {
  const held: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      held.push(await new Promise<Server>((res, rej) => { const s = createServer().once('error', rej).listen(0, '127.0.0.1', () => res(s)); }));
    }
    return held.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(held.map((s) => new Promise((res) => s.close(res))));
  }
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}
