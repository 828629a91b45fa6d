// /etc/niso/config.toml (under NISO_ROOT): host-wide settings: install limits, the default bounds of services' logs and
// state, the backend of new services, what packages are trusted with below the server preset, and generation retention.
import { readFile } from 'node:fs/promises';
import { NisoError } from '../errors/niso-error.js';
import { parseSize } from '../manifest/units.js';
import { DEFAULT_LIMITS, type Limits } from '../package/limits.js';
import type { HostConfig } from './host-config-schema.js';
import type { Trust } from '../plan/weakenings.js';
import { DEFAULT_STATE_BYTES } from '../plan/presets.js';
import { DEFAULT_LOG_LIMITS, type LogLimits } from '../service/logs/limits.js';

async function readConfig(configFile: string): Promise<HostConfig> {
  let text: string | undefined;
  try { text = await readFile(configFile, 'utf8'); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
  if (text === undefined) return {};
  const { parseHostConfig } = await import('./host-config-schema.js');
  return parseHostConfig(text, configFile);
}

/** The bound of a new service's logs: the flags, else [logs] in the host config, else 10 MiB × 3 files. */
export async function readLogLimits(configFile: string, flags: { logMaxSize?: string; logFiles?: string }): Promise<LogLimits> {
  const c = await readConfig(configFile);
  const limits = { maxBytes: c.logs?.max_size ?? DEFAULT_LOG_LIMITS.maxBytes, files: c.logs?.files ?? DEFAULT_LOG_LIMITS.files };
  if (flags.logMaxSize !== undefined) {
    const r = parseSize(flags.logMaxSize);
    if (!r.ok) throw new NisoError('NISO9001', `--log-max-size ${flags.logMaxSize}: ${r.message}`, { hint: r.hint, exitCode: 2 });
    limits.maxBytes = r.value;
  }
  if (flags.logFiles !== undefined) {
    const n = Number(flags.logFiles);
    if (!Number.isInteger(n) || n < 1 || n > 100) throw new NisoError('NISO9001', `--log-files ${flags.logFiles}: expected a whole number from 1 to 100`, { exitCode: 2 });
    limits.files = n;
  }
  if (limits.maxBytes < 1024) throw new NisoError('NISO9001', `log size ${limits.maxBytes} bytes is too small`, { exitCode: 2, hint: 'use at least 1K per file, e.g. --log-max-size 10M' });
  return limits;
}

export async function readInstallLimits(configFile: string, flags: { maxSize?: string; maxFiles?: string }): Promise<Limits> {
  const limits = { ...DEFAULT_LIMITS };
  const c = await readConfig(configFile);
  if (c.install?.max_size !== undefined) limits.maxBytes = c.install.max_size;
  if (c.install?.max_files !== undefined) limits.maxFiles = c.install.max_files;
  if (flags.maxSize !== undefined) {
    const r = parseSize(flags.maxSize);
    if (!r.ok) throw new NisoError('NISO2205', `--max-size ${flags.maxSize}: ${r.message}`, { hint: r.hint, exitCode: 2 });
    limits.maxBytes = r.value;
  }
  if (flags.maxFiles !== undefined) {
    const n = Number(flags.maxFiles);
    if (!Number.isInteger(n) || n < 1) throw new NisoError('NISO2205', `--max-files ${flags.maxFiles} is not a positive whole number`, { exitCode: 2, hint: 'e.g. --max-files 1000000' });
    limits.maxFiles = n;
  }
  return limits;
}

/** [services] backend: the backend new services get (undefined: systemd where it is PID 1, embedded elsewhere). */
export async function readServiceBackend(configFile: string): Promise<'embedded' | 'systemd' | undefined> {
  return (await readConfig(configFile)).services?.backend;
}

/** [trust.NAME]: what the host allows the package NAME below the server preset (plan/weakenings.ts), if anything. */
export async function readTrust(configFile: string, packageName: string): Promise<Trust | undefined> {
  return (await readConfig(configFile)).trust?.[packageName];
}

/** [state] max_size: the default bound of services' /state, in bytes; null for "unlimited" (no bound at all). */
export async function readStateDefault(configFile: string): Promise<number | null> {
  const v = (await readConfig(configFile)).state?.max_size;
  return v === undefined ? DEFAULT_STATE_BYTES : v === 'unlimited' ? null : v;
}

/** [audit] max_file_size: the size at which the audit log starts a new file; undefined: niso's default. */
export async function readAuditMaxFileBytes(configFile: string): Promise<number | undefined> {
  return (await readConfig(configFile)).audit?.max_file_size;
}

/** [generations] keep_last and keep_days: what retention keeps besides the current generation (only what is set). */
export async function readGenerationRetention(configFile: string): Promise<{ keepLast?: number; keepDays?: number }> {
  const g = (await readConfig(configFile)).generations;
  return { ...(g?.keep_last !== undefined ? { keepLast: g.keep_last } : {}), ...(g?.keep_days !== undefined ? { keepDays: g.keep_days } : {}) };
}
