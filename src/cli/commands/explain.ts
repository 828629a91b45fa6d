// `niso explain CODE`: what an error code means and how to fix it.
import { ERROR_CODES, lookupCode } from '../../errors/codes.js';
import { NisoError } from '../../errors/niso-error.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';
import { printTable } from '../table.js';

export function run(ctx: Context, code: string | undefined, opts: { json?: boolean }): void {
  if (code === undefined) {
    const rows = Object.entries(ERROR_CODES).map(([c, i]) => [c, i.title]);
    if (opts.json) printJson(ctx, Object.entries(ERROR_CODES).map(([c, i]) => ({ code: c, ...i })));
    else printTable(ctx.stdout, ['code', 'title'], rows);
    return;
  }
  const normalized = /^\d+$/.test(code) ? `NISO${code}` : code.toUpperCase();
  const info = lookupCode(normalized);
  if (!info) throw new NisoError('NISO9002', `unknown error code "${code}"`, { hint: 'run `niso explain` to list every code', exitCode: 2 });
  if (opts.json) return printJson(ctx, { code: normalized, ...info });
  ctx.stdout.write(`${normalized}: ${info.title}\n\n${info.explain}\n`);
}
