// /etc/niso/config.toml (under NISO_ROOT): host-wide settings. For now the install limits.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { invalidInput, NisoError } from '../errors/niso-error.js';
import { readToml } from '../manifest/toml-positions.js';
import { validateDocument } from '../manifest/validate.js';
import { parseSize } from '../manifest/units.js';
import { DEFAULT_LIMITS, type Limits } from '../package/read-package.js';

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
});

export async function readInstallLimits(configFile: string, flags: { maxSize?: string; maxFiles?: string }): Promise<Limits> {
  const limits = { ...DEFAULT_LIMITS };
  let text: string | undefined;
  try { text = await readFile(configFile, 'utf8'); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
  if (text !== undefined) {
    const t = readToml(text, configFile);
    if (!t.ok) throw invalidInput([t.diagnostic], `${configFile} is not valid TOML`);
    const v = validateDocument(configSchema, t.doc, configFile);
    if (!v.value) throw invalidInput(v.diagnostics, `${configFile} has problems`);
    if (v.value.install?.max_size !== undefined) limits.maxBytes = v.value.install.max_size;
    if (v.value.install?.max_files !== undefined) limits.maxFiles = v.value.install.max_files;
  }
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
