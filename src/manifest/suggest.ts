// "Did you mean": the closest known word to a misspelt one, if it is close enough to be a typo.
import { distance } from 'fastest-levenshtein';

/** Other names for the same thing, common in neighbouring tools (docker, Go, Debian). */
const ALIASES: Readonly<Record<string, string>> = { amd64: 'x86_64', x64: 'x86_64', arm64: 'aarch64', node: 'nodejs', python3: 'python' };

export function suggest(word: string, known: readonly string[]): string | undefined {
  if (known.length === 0) return undefined;
  const lower = word.toLowerCase();
  const exactCase = known.find((k) => k.toLowerCase() === lower);
  if (exactCase) return exactCase;
  const alias = ALIASES[lower];
  if (alias !== undefined && known.includes(alias)) return alias;
  // A shortened spelling ("NET_ADMIN", "CAP_NET_BIND") that exactly one known word contains,
  // or a longer one ("mountpoint") that contains exactly one known word.
  if (lower.length >= 4) {
    const containing = known.filter((k) => k.toLowerCase().includes(lower));
    if (containing.length === 1) return containing[0];
    const contained = known.filter((k) => k.length >= 4 && lower.includes(k.toLowerCase()));
    if (contained.length === 1) return contained[0];
  }
  // Otherwise the nearest word, compared case-insensitively ("sever" → "server").
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(lower, k.toLowerCase());
    if (d < bestDistance) { best = k; bestDistance = d; }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}
