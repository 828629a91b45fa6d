// Parsers for the small value languages inside manifests: durations, sizes and port mappings.
// Pure functions returning either a value or a reason, so the schema can attach positions.

export type Parsed<T> = { ok: true; value: T } | { ok: false; code: string; message: string; hint: string };

const fail = (code: string, message: string, hint: string): Parsed<never> => ({ ok: false, code, message, hint });

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The shape of a duration, for the JSON Schema (editors); parseDuration also bounds the value. */
export const DURATION_PATTERN = '^\\s*(\\d+(\\.\\d+)?(ms|s|m|h|d))+\\s*$';

/** `"1m30s"`, `"500ms"`, `"2h"` → milliseconds. */
export function parseDuration(text: string): Parsed<number> {
  const hint = 'write a number with a unit (ms, s, m, h, d), e.g. "30s", "500ms" or "1m30s"';
  const s = text.trim();
  if (s === '') return fail('NISO1301', 'empty duration', hint);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) {
      if (/^\d+(\.\d+)?$/.test(s)) return fail('NISO1301', `"${text}" has no unit`, `add a unit, e.g. "${s}s"`);
      return fail('NISO1301', `"${text}" is not a duration`, hint);
    }
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (!Number.isFinite(total) || total > 365 * 86_400_000) return fail('NISO1301', `"${text}" is longer than a year`, 'use a shorter duration');
  return { ok: true, value: Math.round(total) };
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** The shape of a size written as a string, for the JSON Schema; JSON Schema has no case-insensitive flag. */
export const SIZE_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*[kKmMgGtT]?([iI]?[bB])?\\s*$';

/** `"512M"`, `"1.5GiB"`, `"64k"`, `1048576` → bytes (powers of 1024, as docker and systemd use). */
export function parseSize(input: string | number): Parsed<number> {
  const hint = 'write bytes or a number with a unit (K, M, G, T), e.g. "512M" or "1G"';
  if (typeof input === 'number') {
    if (input < 0) return fail('NISO1302', `${input} is negative`, hint);
    if (!Number.isInteger(input)) return fail('NISO1302', `${input} is not a whole number of bytes`, hint);
    return { ok: true, value: input };
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(input);
  if (!m) return fail('NISO1302', `"${input}" is not a size`, hint);
  const unit = m[2]!.toLowerCase();
  const bytes = Math.floor(Number(m[1]) * SIZE_UNITS[unit]!);
  if (!Number.isSafeInteger(bytes)) return fail('NISO1302', `"${input}" is too large`, 'use a smaller size');
  return { ok: true, value: bytes };
}

/** The smallest bound of a state directory: its ext4 file system keeps a few MiB of it for itself. */
export const MIN_STATE_BYTES = 8 * 1024 * 1024;

/** A size for a state bound (`state_size`, `--state-size`, `[state] max_size`): a size of at least MIN_STATE_BYTES. */
export function parseStateSize(input: string | number): Parsed<number> {
  const r = parseSize(input);
  if (!r.ok || r.value >= MIN_STATE_BYTES) return r;
  return fail('NISO1006', `${typeof input === 'string' ? `"${input}"` : input} is below the smallest state size, 8M`, 'the state\'s ext4 file system needs a few MiB of its own: use at least "8M"');
}

export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${bytes} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export interface PortRange { from: number; to: number }
export interface PortMapping {
  /** Host address to listen on; null means every address of the host. */
  hostIp: string | null;
  host: PortRange;
  container: PortRange;
  protocol: 'tcp' | 'udp';
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
// Loose IPv6 shape check: hex groups and colons, at most one `::`. Good enough to catch typos.
const IPV6 = /^(?=.*:)[0-9a-f:.]{2,45}$/i;

export function isIpAddress(s: string): boolean {
  if (IPV4.test(s)) return true;
  return IPV6.test(s) && (s.match(/::/g) ?? []).length <= 1;
}

function parseRange(s: string, side: string, text: string): Parsed<PortRange> {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s);
  if (!m) return fail('NISO1201', `"${text}" is not a port mapping: ${side} port "${s}" is not a number or range`, 'write "HOST:CONTAINER", e.g. "8080:3000"');
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < 1 || from > 65535 || to < 1 || to > 65535) return fail('NISO1202', `"${text}": ${side} port ${from > 65535 || from < 1 ? from : to} is outside 1-65535`, 'use a port from 1 to 65535');
  if (to < from) return fail('NISO1202', `"${text}": ${side} port range ${from}-${to} runs backwards`, `write ${to}-${from}`);
  return { ok: true, value: { from, to } };
}

/** `"[IP:]HOST:CONTAINER[/tcp|udp]"` with optional equal-length ranges on both sides. */
export function parsePortMapping(text: string): Parsed<PortMapping> {
  const hint = 'write "HOST:CONTAINER", e.g. "8080:3000", "127.0.0.1:8080:3000" or "5353:53/udp"';
  let rest = text.trim();
  if (rest === '') return fail('NISO1201', 'empty port mapping', hint);
  let protocol: 'tcp' | 'udp' = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const proto = rest.slice(slash + 1).toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp') return fail('NISO1201', `"${text}" has an unknown protocol "${rest.slice(slash + 1)}"`, 'the protocol is /tcp (the default) or /udp');
    protocol = proto;
    rest = rest.slice(0, slash);
  }
  let hostIp: string | null = null;
  const bracket = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (bracket) {
    hostIp = bracket[1]!.toLowerCase();
    rest = bracket[2]!;
    if (!isIpAddress(hostIp)) return fail('NISO1201', `"${text}": "${hostIp}" is not an IP address`, hint);
  }
  const parts = rest.split(':');
  if (hostIp === null && parts.length === 3) {
    hostIp = parts.shift()!;
    if (!isIpAddress(hostIp)) return fail('NISO1201', `"${text}": "${hostIp}" is not an IP address`, hint);
  }
  if (parts.length === 1) return fail('NISO1201', `"${text}" names only one port`, `map a host port to it, e.g. "${parts[0]}:${parts[0]}"`);
  if (parts.length !== 2) return fail('NISO1201', `"${text}" is not a port mapping`, hint);
  const host = parseRange(parts[0]!, 'host', text);
  if (!host.ok) return host;
  const container = parseRange(parts[1]!, 'container', text);
  if (!container.ok) return container;
  const hl = host.value.to - host.value.from;
  const cl = container.value.to - container.value.from;
  const ports = (n: number) => (n === 1 ? '1 port' : `${n} ports`);
  if (hl !== cl) return fail('NISO1201', `"${text}": the host side has ${ports(hl + 1)} but the container side has ${ports(cl + 1)}`, `make both sides the same length, e.g. "${host.value.from}-${host.value.from + Math.max(hl, cl)}:${container.value.from}-${container.value.from + Math.max(hl, cl)}"`);
  return { ok: true, value: { hostIp, host: host.value, container: container.value, protocol } };
}
