// `x-` keys: Compose's one exception to strictness, where a file parks data for tools and anchors. They are dropped
// from every table whose keys the schema fixes (the stack, a service, a health check...) before anything else reads
// the file, so they are neither interpolated nor validated. In tables whose keys are the user's own (environment,
// volumes by key, depends_on by service) a key is data, and `x-` is not special there.
import { core, defOf, type AnySchema } from '../manifest/zod-def.js';

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** For a union, the branch that can describe this value (a table or a list); otherwise the schema itself. */
function branchFor(s: AnySchema, v: unknown): AnySchema {
  const c = core(s);
  const d = defOf(c);
  if (d.type !== 'union' || !d.options) return c;
  const want = Array.isArray(v) ? ['array'] : isTable(v) ? ['object', 'record'] : [];
  return d.options.map(core).find((o) => want.includes(defOf(o).type)) ?? c;
}

export const isExtensionKey = (k: string): boolean => k.startsWith('x-');

/** A copy of `value` without the `x-` keys of the schema's fixed tables; `dropped` gets the paths it left out. */
export function stripExtensions(value: unknown, schema: AnySchema, dropped: (string | number)[][] = [], path: (string | number)[] = []): unknown {
  const s = branchFor(schema, value);
  const d = defOf(s);
  if (Array.isArray(value)) {
    const el = d.type === 'array' ? d.element : undefined;
    return el ? value.map((x, i) => stripExtensions(x, el, dropped, [...path, i])) : value;
  }
  if (!isTable(value)) return value;
  if (d.type === 'object' && d.shape) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (isExtensionKey(k)) { dropped.push([...path, k]); continue; }
      const field = d.shape[k];
      out[k] = field ? stripExtensions(v, field, dropped, [...path, k]) : v;
    }
    return out;
  }
  if (d.type === 'record' && d.valueType) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = stripExtensions(v, d.valueType, dropped, [...path, k]);
    return out;
  }
  return value;
}
