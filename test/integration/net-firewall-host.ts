// The "host" of net-firewall.test.ts: run by the test inside a network namespace of its own
// (`ip netns exec`), so that the firewall rules the test adds there, like Docker's FORWARD policy
// drop, never touch the real host. Creates a niso network with two services (a with a mapped
// port), prints what it made as one JSON line, answers each `warnings` line on stdin with niso's
// firewall warnings as a JSON line, and removes it all when its stdin closes.
import { createInterface } from 'node:readline';
import { attachService, createNetwork, detachService, firewallWarnings, netContext, removeNetwork } from '../../src/net/host/manager.js';
import { deleteTable } from '../../src/net/host/nft.js';

const cfg = JSON.parse(process.argv[2] ?? '{}') as { root: string; id: string; pool: string[]; port: number };
const ctx = netContext(cfg.root, { table: `nf${cfg.id}`, bridgePrefix: `nf${cfg.id}b`, netnsPrefix: `nf${cfg.id}`, pool: cfg.pool });

async function main(): Promise<void> {
  const alpha = await createNetwork(ctx, { name: 'alpha' });
  const a = await attachService(ctx, { service: 'a', networks: ['alpha'], ports: [{ hostIp: null, host: { from: cfg.port, to: cfg.port }, container: { from: 8080, to: 8080 }, protocol: 'tcp' }] });
  const b = await attachService(ctx, { service: 'b', networks: ['alpha'] });
  process.stdout.write(JSON.stringify({ pid: process.pid, network: alpha, a: { netns: a.netns, address: a.attachments[0]!.address }, b: { netns: b.netns, address: b.attachments[0]!.address }}) + '\n');
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === 'warnings') process.stdout.write(JSON.stringify(await firewallWarnings(ctx)) + '\n');
  }
  for (const s of ['a', 'b']) await detachService(ctx, s).catch(() => undefined);
  await removeNetwork(ctx, 'alpha').catch(() => undefined);
  await deleteTable(ctx.table).catch(() => undefined);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = 1;
});
