// IPv4 addresses and CIDR blocks as 32-bit numbers, so overlap and allocation are plain arithmetic.

export interface Cidr {
  /** The network address (host bits zero). */
  base: number;
  prefix: number;
}

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_RE = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

export function isIpv4(text: string): boolean {
  return IPV4_RE.test(text);
}

/** Dotted quad → number; null when it is not a plain IPv4 address. */
export function parseIpv4(text: string): number | null {
  const m = IPV4_RE.exec(text);
  if (!m) return null;
  return ((Number(m[1]) << 24) >>> 0) + (Number(m[2]) << 16) + (Number(m[3]) << 8) + Number(m[4]);
}

export function formatIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function sizeOf(prefix: number): number {
  return 2 ** (32 - prefix);
}

export type CidrParse = { ok: true; cidr: Cidr; hostBitsSet: boolean } | { ok: false; reason: string };

/** `a.b.c.d/n`; a bare address is a /32. Host bits are reported, not silently cleared. */
export function parseCidr(text: string): CidrParse {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addrText = slash < 0 ? t : t.slice(0, slash);
  const addr = parseIpv4(addrText);
  if (addr === null) return { ok: false, reason: `"${addrText}" is not an IPv4 address` };
  let prefix = 32;
  if (slash >= 0) {
    const p = t.slice(slash + 1);
    if (!/^\d{1,2}$/.test(p) || Number(p) > 32) return { ok: false, reason: `"/${p}" is not a prefix length from 0 to 32` };
    prefix = Number(p);
  }
  const base = (addr & maskOf(prefix)) >>> 0;
  return { ok: true, cidr: { base, prefix }, hostBitsSet: base !== addr };
}

/** For trusted input (state files, the host's own tables): throws on garbage. */
export function cidrOf(text: string): Cidr {
  const r = parseCidr(text);
  if (!r.ok) throw new Error(`not a CIDR block: ${text} (${r.reason})`);
  return r.cidr;
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

export function lastAddress(c: Cidr): number {
  return c.base + sizeOf(c.prefix) - 1;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base <= lastAddress(b) && b.base <= lastAddress(a);
}

export function contains(c: Cidr, addr: number): boolean {
  return addr >= c.base && addr <= lastAddress(c);
}
