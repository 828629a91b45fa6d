// Parsers for the JSON that `ip -j` and `nft -j` print, kept pure so they are tested as data.
import { isIpv4 } from './cidr.js';
import type { DefaultRoute } from './mtu.js';

type Json = unknown;
const isObj = (x: Json): x is Record<string, Json> => typeof x === 'object' && x !== null && !Array.isArray(x);
const arr = (x: Json): Json[] => (Array.isArray(x) ? x : []);

/** `ip -4 -j route show table all` → destination CIDRs (a bare address is a /32; default is left out). */
export function parseIpRoutes(json: Json): string[] {
  const out = new Set<string>();
  for (const r of arr(json)) {
    if (!isObj(r) || typeof r.dst !== 'string' || r.dst === 'default') continue;
    const dst = r.dst.includes('/') ? r.dst : `${r.dst}/32`;
    if (isIpv4(dst.split('/')[0]!)) out.add(dst);
  }
  return [...out].sort();
}

/** `ip -4 -j addr show` → "ADDRESS/PREFIX" of every IPv4 address. */
export function parseIpAddresses(json: Json): string[] {
  const out: string[] = [];
  for (const link of arr(json)) {
    if (!isObj(link)) continue;
    for (const a of arr(link.addr_info)) {
      if (isObj(a) && a.family === 'inet' && typeof a.local === 'string' && typeof a.prefixlen === 'number') out.push(`${a.local}/${a.prefixlen}`);
    }
  }
  return out.sort();
}

export interface IpLink { ifname: string; up: boolean; master: string | null; addresses: string[]; mtu: number | null }

/** `ip -j addr show` (or `ip -j link show`) → interfaces. */
export function parseIpLinks(json: Json): IpLink[] {
  const out: IpLink[] = [];
  for (const l of arr(json)) {
    if (!isObj(l) || typeof l.ifname !== 'string') continue;
    const flags = arr(l.flags);
    const addresses = arr(l.addr_info).filter((a): a is Record<string, Json> => isObj(a) && a.family === 'inet').map((a) => `${String(a.local)}/${String(a.prefixlen)}`);
    out.push({ ifname: l.ifname, up: flags.includes('UP'), master: typeof l.master === 'string' ? l.master : null, addresses, mtu: typeof l.mtu === 'number' ? l.mtu : null });
  }
  return out;
}

/** A route's `mtu` metric: `{"mtu": 1400}`, or `{"mtu": ["lock", 1400]}` when locked. */
function routeMtu(r: Record<string, Json>): number | null {
  for (const m of arr(r.metrics)) {
    if (!isObj(m)) continue;
    const v = Array.isArray(m.mtu) ? m.mtu.find((x) => typeof x === 'number') : m.mtu;
    if (typeof v === 'number') return v;
  }
  return null;
}

/** `ip -4 -j route show default` → each default route's device(s) (several when multipath) and own MTU. */
export function parseDefaultRoutes(json: Json): DefaultRoute[] {
  const out: DefaultRoute[] = [];
  for (const r of arr(json)) {
    if (!isObj(r) || r.dst !== 'default') continue;
    const devs = typeof r.dev === 'string' ? [r.dev] : arr(r.nexthops).filter(isObj).map((n) => n.dev).filter((d): d is string => typeof d === 'string');
    out.push({ devs, mtu: routeMtu(r) });
  }
  return out;
}

/** `ip -j netns list` → names. */
export function parseNetnsList(json: Json): string[] {
  return arr(json).filter(isObj).map((n) => n.name).filter((n): n is string => typeof n === 'string').sort();
}

/** `nft -j list tables` → "family name" strings. */
export function parseNftTables(json: Json): string[] {
  const out: string[] = [];
  for (const item of arr(isObj(json) ? json.nftables : undefined)) {
    if (isObj(item) && isObj(item.table)) out.push(`${String(item.table.family)} ${String(item.table.name)}`);
  }
  return out.sort();
}

function scalar(x: Json): string {
  if (isObj(x) && isObj(x.elem)) return scalar(x.elem.val);
  if (isObj(x) && Array.isArray(x.concat)) return x.concat.map(scalar).join(' . ');
  if (isObj(x) && isObj(x.prefix)) return `${scalar(x.prefix.addr)}/${scalar(x.prefix.len)}`;
  if (isObj(x) && Array.isArray(x.range)) return x.range.map(scalar).join('-');
  return String(x);
}

/**
 * `nft -j list table ip NAME` → each map's and set's elements as text:
 * `{ tcp_ports: ["18080 : 10.89.0.2 . 8080"], no_egress: ["10.89.0.3"] }`.
 */
export function parseNftElements(json: Json): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const item of arr(isObj(json) ? json.nftables : undefined)) {
    if (!isObj(item)) continue;
    const m = isObj(item.map) ? item.map : isObj(item.set) ? item.set : null;
    if (!m || typeof m.name !== 'string') continue;
    out[m.name] = arr(m.elem).map((e) => (Array.isArray(e) && e.length === 2 ? `${scalar(e[0])} : ${scalar(e[1])}` : scalar(e))).sort();
  }
  return out;
}
