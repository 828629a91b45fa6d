// Asking before a command deletes data for good: on a terminal a "[y/N]" question, elsewhere (scripts, pipes) a
// coded error unless the caller passed --force, since nobody could answer.
import { createInterface } from 'node:readline';
import { NisoError } from '../errors/niso-error.js';
import type { Context } from './context.js';

/** Whether to go ahead: `force`, or a "y"/"yes" typed on the terminal. NISO5011 without a terminal. */
export async function confirm(ctx: Context, warning: string, force: boolean, command: string): Promise<boolean> {
  if (force) return true;
  const stdin = ctx.stdin?.();
  if (!stdin?.isTTY) {
    throw new NisoError('NISO5011', `${command} deletes data and asks first, but there is no terminal to ask on`, { exitCode: 2, hint: `pass -f (--force) to go ahead without asking${command.includes('prune') ? `, or --dry-run to see what it would delete` : ''}` });
  }
  ctx.stderr.write(`${warning}\nAre you sure you want to continue? [y/N] `);
  const rl = createInterface({ input: stdin, terminal: false });
  const answer = await new Promise<string>((res) => {
    rl.once('line', res);
    rl.once('close', () => res(''));
  });
  rl.close();
  stdin.pause();
  return /^\s*y(es)?\s*$/i.test(answer);
}
