// `niso net create|list|inspect|remove|prune`: niso's own networks (bridge + subnet + nft rules).
import { NisoError } from '../../errors/niso-error.js';
import { createNetwork, firewallWarnings, listNetworks, netContext, pruneNetwork, removeNetwork, renderRules, type NetworkInfo } from '../../net/host/manager.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';
import { printTable } from '../table.js';

const fmtPort = (p: NetworkInfo['ports'][number]) => {
  const r = (x: { from: number; to: number }) => (x.from === x.to ? `${x.from}` : `${x.from}-${x.to}`);
  return `${p.hostIp ?? '*'}:${r(p.hostPort)} -> ${p.service} ${p.target}:${r(p.containerPort)}/${p.protocol}`;
};

export async function create(ctx: Context, name: string, opts: { subnet?: string; egress?: boolean; json?: boolean }): Promise<void> {
  const netCtx = netContext(ctx.root);
  const n = await createNetwork(netCtx, { name, subnet: opts.subnet, egress: opts.egress });
  const warnings = await firewallWarnings(netCtx).catch(() => [] as string[]);
  if (opts.json) return printJson(ctx, { ...n, warnings });
  ctx.stdout.write(`created network ${n.name}: subnet ${n.subnet}${opts.subnet ? '' : ' (the first free one)'}, gateway ${n.gateway}, bridge ${n.bridge}${n.egress === false ? ', no egress' : ''}\n`);
  for (const w of warnings) ctx.stderr.write(`warning: ${w}\n`);
}

export async function list(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const all = await listNetworks(netContext(ctx.root));
  if (opts.json) return printJson(ctx, all);
  if (all.length === 0) { ctx.stdout.write('no networks (one named "default" is created on first use)\n'); return; }
  printTable(ctx.stdout, ['name', 'subnet', 'gateway', 'bridge', 'egress', 'services', 'ports'],
    all.map((i) => [i.network.name, i.network.subnet, i.network.gateway, i.network.bridge, i.network.egress === false ? 'no' : 'yes', i.attachments.map((a) => a.service).join(', ') || '-', String(i.ports.length)]));
}

export async function inspect(ctx: Context, name: string, opts: { rules?: boolean; json?: boolean }): Promise<void> {
  const netCtx = netContext(ctx.root);
  const info = (await listNetworks(netCtx)).find((i) => i.network.name === name);
  if (!info) throw new NisoError('NISO4002', `no network named "${name}"`, { exitCode: 1, hint: 'see `niso net list`' });
  const rules = opts.rules ? await renderRules(netCtx) : undefined;
  // Another tool's firewall (Docker's FORWARD DROP) that would drop this network's traffic.
  const warnings = await firewallWarnings(netCtx).catch(() => [] as string[]);
  if (opts.json) return printJson(ctx, { ...info, ...(rules ? { rules } : {}), warnings });
  for (const w of warnings) ctx.stderr.write(`warning: ${w}\n`);
  const n = info.network;
  ctx.stdout.write(`${n.name}\n  subnet    ${n.subnet}\n  gateway   ${n.gateway}\n  bridge    ${n.bridge}\n  egress    ${n.egress === false ? 'no' : 'yes'}\n  created   ${n.createdAt}\n`);
  ctx.stdout.write(`  services  ${info.attachments.map((a) => `${a.service} (${a.address})`).join(', ') || '-'}\n`);
  ctx.stdout.write(`  ports     ${info.ports.map(fmtPort).join(', ') || '-'}\n`);
  if (rules) ctx.stdout.write(`\n# nftables rules of all niso networks (table ip ${netCtx.table}):\n${rules}`);
}

export async function remove(ctx: Context, name: string, opts: { json?: boolean }): Promise<void> {
  const n = await removeNetwork(netContext(ctx.root), name);
  if (opts.json) return printJson(ctx, n);
  ctx.stdout.write(`removed network ${n.name} (${n.subnet})\n`);
}

export async function prune(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const r = await pruneNetwork(netContext(ctx.root));
  if (opts.json) return printJson(ctx, r);
  ctx.stdout.write(r.removed.length === 0 ? 'nothing to prune\n' : `removed ${r.removed.length} leftover attachment(s): ${r.removed.map((a) => `${a.service} on ${a.network}`).join(', ')}\n`);
}
