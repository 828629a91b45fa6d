// What the service verbs get of a command's context: the root, the environment and niso's own executable (for
// starting the supervisor). A module of its own: the read commands and the supervisor's process need it too.
import type { Host } from '../../service/ops.js';
import type { Context } from '../context.js';

export function hostOf(ctx: Context): Host {
  return { root: ctx.root, env: ctx.env as NodeJS.ProcessEnv, entry: ctx.entry ?? process.argv[1]! };
}
