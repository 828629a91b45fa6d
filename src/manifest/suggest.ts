// "Did you mean": the closest known word to a misspelt one, if it is close enough to be a typo.
import { closest, distance } from 'fastest-levenshtein';

export function suggest(word: string, known: readonly string[]): string | undefined {
  if (known.length === 0) return undefined;
  const lower = word.toLowerCase();
  const exactCase = known.find((k) => k.toLowerCase() === lower);
  if (exactCase) return exactCase;
  const best = closest(lower, known as string[]);
  const limit = Math.max(2, Math.floor(best.length / 3));
  return distance(lower, best.toLowerCase()) <= limit ? best : undefined;
}
