// The tables of `niso stats` and `niso top`, with docker's columns and size notation, so that
// people (and their scripts that scrape `docker stats`) read them the same way.
import { renderTable } from '../../cli/table.js';
import type { Stats, StatsRow } from './compute.js';
import type { ProcessRow } from './top.js';

const DECIMAL = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** Go's %.Ng: N significant digits, trailing zeros dropped, never an exponent here. */
function significant(v: number, digits: number): string {
  let s = v.toPrecision(digits);
  if (s.includes('e')) s = String(Number(s));
  if (s.includes('.')) s = s.replace(/\.?0+$/, '');
  return s;
}

function humanSize(bytes: number, base: number, units: string[], digits: number): string {
  let v = bytes;
  let i = 0;
  while (v >= base && i < units.length - 1) { v /= base; i++; }
  // docker prints 999.7 bytes as "1e+03B"; the next unit reads better.
  if (Number(v.toPrecision(digits)) >= base && i < units.length - 1) { v /= base; i++; }
  return significant(v, digits) + units[i];
}

/** Memory as docker stats shows it (go-units BytesSize): binary units, 4 digits, "12.34MiB". */
export function formatMemory(bytes: number): string {
  return humanSize(bytes, 1024, BINARY, 4);
}

/** Network and block I/O as docker stats shows them (HumanSizeWithPrecision 3): "1.23kB". */
export function formatIo(bytes: number): string {
  return humanSize(bytes, 1000, DECIMAL, 3);
}

/** docker's columns, and /state's use against its bound (docker has no such bound). */
export const STATS_HEADERS = ['name', 'cpu %', 'mem usage / limit', 'mem %', 'net i/o', 'block i/o', 'pids', 'state / limit'];

function stateCell(s: Stats): string {
  if (s.stateLimitBytes === null) return 'unbounded';
  return `${s.stateUsedBytes === null ? '--' : formatMemory(s.stateUsedBytes)} / ${formatMemory(s.stateLimitBytes)}`;
}

export function statsTableRows(rows: StatsRow[]): string[][] {
  return rows.map(({ name, stats: s }) => {
    if (s === null) return [name, '--', '-- / --', '--', '--', '--', '--', '--'];
    return [
      name,
      s.cpuPercent === null ? '--' : `${s.cpuPercent.toFixed(2)}%`,
      `${formatMemory(s.memoryBytes)} / ${formatMemory(s.memoryLimitBytes)}`,
      `${s.memoryPercent.toFixed(2)}%`,
      s.netRxBytes === null || s.netTxBytes === null ? '--' : `${formatIo(s.netRxBytes)} / ${formatIo(s.netTxBytes)}`,
      `${formatIo(s.blockReadBytes)} / ${formatIo(s.blockWriteBytes)}`,
      String(s.pids),
      stateCell(s),
    ];
  });
}

/** The `niso stats` table, like `docker stats` (NET I/O is "--" for services on the host's network). */
export function formatStatsTable(rows: StatsRow[]): string {
  return renderTable(STATS_HEADERS, statsTableRows(rows));
}

/**
 * What a streaming `niso stats` writes before each table on a terminal: cursor home and clear
 * the screen, as docker stats does, so the table redraws in place.
 */
export const REDRAW = '\x1b[H\x1b[2J';

/** Elapsed time as ps's ELAPSED: [[dd-]hh:]mm:ss. */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  const ms_ = `${two(m)}:${two(s)}`;
  if (d > 0) return `${d}-${two(h)}:${ms_}`;
  if (h > 0) return `${two(h)}:${ms_}`;
  return ms_;
}

export const TOP_HEADERS = ['pid', 'ppid', 'user', '%cpu', 'rss', 'elapsed', 'command'];

export function topTableRows(rows: ProcessRow[]): string[][] {
  return rows.map((r) => [String(r.pid), String(r.ppid), r.user, r.cpuPercent.toFixed(1), formatMemory(r.rssBytes), formatElapsed(r.elapsedMs), r.command]);
}

/** The `niso top` table; pids are the host's (as docker top shows them). */
export function formatTopTable(rows: ProcessRow[]): string {
  return renderTable(TOP_HEADERS, topTableRows(rows));
}
