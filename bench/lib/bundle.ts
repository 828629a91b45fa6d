// What a file of niso's bundle holds, for the module listings of the start-up profiles.
import { readFileSync } from 'node:fs';

/** From esbuild's `// node_modules/PKG/...` and `// src/...` comments: the biggest contributors. */
export function bundleContents(path: string, top = 6): string {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch { return ''; }
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/^\/\/ ((?:node_modules|src)\/\S+)$/gm)) {
    const parts = m[1]!.split('/');
    const k = parts[0] === 'src' ? `src/${parts[1]}` : parts[1]!.startsWith('@') ? `${parts[1]}/${parts[2]}` : parts[1]!;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, n]) => (n > 1 ? `${k} (${n} files)` : k)).join(', ');
}
