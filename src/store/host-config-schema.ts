// The schema of /etc/niso/config.toml, and its validation: loaded only when the file exists, so
// that commands on a host without one never load zod or the TOML parser.
import { z } from 'zod';
import { invalidInput } from '../errors/niso-error.js';
import { readToml } from '../manifest/toml-positions.js';
import { validateDocument } from '../manifest/validate.js';
import { CAPABILITIES } from '../manifest/constants.js';
import { parseSize, parseStateSize } from '../manifest/units.js';
import { SECRET_NAME_RE } from '../secret/names.js';

const PACKAGE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const sizeValue = z.union([z.string(), z.number().int()]).transform((v, ctx) => {
  const r = parseSize(v);
  if (r.ok) return r.value;
  ctx.issues.push({ code: 'custom', message: r.message, input: v, params: { niso: r.code, hint: r.hint } });
  return z.NEVER;
});

const configSchema = z.strictObject({
  install: z.strictObject({
    max_size: sizeValue.optional(),
    max_files: z.number().int().min(1).optional(),
  }).optional(),
  logs: z.strictObject({
    max_size: sizeValue.optional(),
    files: z.number().int().min(1).max(100).optional(),
  }).optional(),
  audit: z.strictObject({
    // The size at which the audit log starts a new file (the old one is never written again).
    max_file_size: sizeValue.optional(),
  }).optional(),
  services: z.strictObject({
    backend: z.enum(['embedded', 'systemd']).optional(),
  }).optional(),
  // [generations]: how many generations (and the packages they name) are kept for rollback.
  generations: z.strictObject({
    keep_last: z.number().int().min(1).max(10_000).optional(),
    keep_days: z.number().int().min(0).max(36_500).optional(),
  }).optional(),
  // [trust.NAME]: what the package NAME may ask for below the server preset (plan/weakenings.ts), with the flags' keys.
  trust: z.record(z.string().regex(PACKAGE_NAME, 'not a package name'), z.strictObject({
    preset: z.literal('unsafe-none').optional(),
    network: z.literal('host').optional(),
    capabilities: z.array(z.enum(CAPABILITIES)).optional(),
    syscalls: z.array(z.string().regex(/^@?[a-z0-9_]+$/, 'not a system call name or @group')).optional(),
    pids: z.number().int().min(1).max(4_194_304).optional(),
    networks: z.array(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,31}$/, 'not a network name')).optional(),
    // The host paths of the manifest's [[mounts]] the package may bind, by source.
    mounts: z.array(z.string().regex(/^\//, 'not an absolute path')).optional(),
    secrets: z.array(z.string().regex(SECRET_NAME_RE, 'not a secret name')).optional(),
  })).optional(),
  state: z.strictObject({
    // "unlimited": services' /state is a plain directory, for hosts that cannot bound it (no loop devices).
    max_size: z.union([z.string(), z.number().int()]).transform((v, ctx): number | 'unlimited' => {
      if (v === 'unlimited') return v;
      const r = parseStateSize(v);
      if (r.ok) return r.value;
      ctx.issues.push({ code: 'custom', message: r.message, input: v, params: { niso: r.code, hint: `${r.hint}, or "unlimited"` } });
      return z.NEVER;
    }).optional(),
  }).optional(),
});

export type HostConfig = z.infer<typeof configSchema>;

export function parseHostConfig(text: string, configFile: string): HostConfig {
  const t = readToml(text, configFile);
  if (!t.ok) throw invalidInput(t.diagnostics, `${configFile} is not valid TOML`);
  const v = validateDocument(configSchema, t.doc, configFile);
  if (!v.value) throw invalidInput(v.diagnostics, `${configFile} has problems`);
  return v.value;
}

