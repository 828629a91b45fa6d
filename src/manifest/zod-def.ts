// Reading a zod schema's own definition (its wrappers, fields, branches), for the walks that follow a value or a path
// through a schema: validate.ts (positions and suggestions) and stack/extensions.ts (dropping `x-` keys).
import type { z } from 'zod';

export type AnySchema = z.ZodType;
export interface Def { type: string; innerType?: AnySchema; in?: AnySchema; shape?: Record<string, AnySchema>; valueType?: AnySchema; element?: AnySchema; options?: AnySchema[] }
export const defOf = (s: AnySchema): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Follows wrappers (optional, default, pipe: a conversion...) down to the schema of the value as written. */
export function core(s: AnySchema): AnySchema {
  let cur = s;
  for (let i = 0; i < 20; i++) {
    const d = defOf(cur);
    if ((d.type === 'optional' || d.type === 'default' || d.type === 'prefault' || d.type === 'nullable' || d.type === 'readonly') && d.innerType) cur = d.innerType;
    else if (d.type === 'pipe' && d.in) cur = d.in;
    else break;
  }
  return cur;
}
