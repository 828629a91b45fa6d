// The verbs as edits of the desired state: each takes the current generation's content (null on a host without one)
// and returns the target of its switch.
import { contentOf } from './hash.js';
import type { GenerationContent, GenerationService } from './types.js';

const servicesOf = (c: GenerationContent | null) => c?.services ?? [];

/** `activate PACKAGE --name X`: X defined as `entry` (added, or replacing what X was). */
export function withService(current: GenerationContent | null, entry: GenerationService): GenerationContent {
  return contentOf([...servicesOf(current).filter((s) => s.name !== entry.name), entry]);
}

/** `activate X` / `deactivate X`: X's entry with `active` set; `fallback` when the generation does not hold X. */
export function withActive(current: GenerationContent | null, names: readonly string[], active: boolean, fallback: (name: string) => GenerationService | null): GenerationContent {
  const held = new Map(servicesOf(current).map((s) => [s.name, s]));
  for (const n of names) {
    const e = held.get(n) ?? fallback(n);
    if (e) held.set(n, { ...e, active });
  }
  return contentOf([...held.values()]);
}

/** `remove X`: X dropped. */
export function withoutServices(current: GenerationContent | null, names: readonly string[]): GenerationContent {
  return contentOf(servicesOf(current).filter((s) => !names.includes(s.name)));
}
