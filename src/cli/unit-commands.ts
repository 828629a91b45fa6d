// The hidden commands that systemd units run, each with the one service name niso wrote into the unit (render/):
// `__after-exit` at every end of a service, `__health-check` at every probe, the network unit's `__net-up`/`__net-down`,
// the init check and the dependency wait. main.ts runs them without commander (they run more often than any command a
// user types: 73 exit units in one run of the service suite), program.ts declares them for help and other forms; both
// dispatch through this table, so a command's module is named once.
import type { Context } from './context.js';

export const UNIT_COMMANDS = {
  '__after-exit': async (ctx: Context, s: string) => (await import('./commands/systemd-exit.js')).afterExit(ctx, s),
  '__health-check': async (ctx: Context, s: string) => (await import('./commands/systemd-health.js')).healthCheck(ctx, s),
  '__net-up': async (ctx: Context, s: string) => (await import('./commands/systemd-net.js')).up(ctx, s),
  '__net-down': async (ctx: Context, s: string) => (await import('./commands/systemd-net.js')).down(ctx, s),
  '__init-needed': async (ctx: Context, s: string) => (await import('./commands/systemd-health.js')).initNeeded(ctx, s),
  '__wait-dependencies': async (ctx: Context, s: string) => (await import('./commands/systemd-deps.js')).waitDependencies(ctx, s),
} as const;

export type UnitCommand = keyof typeof UNIT_COMMANDS;

/** Own keys only: `niso constructor x` is commander's unknown command, not Object's. */
export const isUnitCommand = (verb: string): verb is UnitCommand => Object.hasOwn(UNIT_COMMANDS, verb);
