// Remembers, per package and host, what planning learns by looking at the host (the runtime chosen and its file
// closure, a binary's libraries, the [isolation] tools, a Debian root's layout), so that `niso run` and a service's
// start do not discover, probe and walk them again each time (issue 17). An entry holds the files and directories
// those facts came from, with their identity (inode, size, mtime, ctime, mode); it is used only while every one is
// unchanged: a runtime upgraded, added, removed or configured, a library replaced, a tool installed. The key covers
// what the facts are computed from (package digest, manifest, PATH) and this niso's own code, so an upgrade of niso
// starts afresh. The plan itself is always built anew from these facts (buildPlan is pure and takes ~1 ms): network,
// options, uid and volumes are never remembered.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../host/fs-atomic.js';
import type { Manifest } from '../manifest/schema.js';
import type { HostFacts, ToolFacts } from '../plan/build-plan.js';
import { layout } from '../store/layout.js';

/** Bumped when what an entry holds changes shape. */
const FORMAT = 1;

export interface CachedFacts {
  runtime: HostFacts['runtime'];
  runtimeNotes: string[];
  binaryMounts: HostFacts['binaryMounts'];
  debianRoot: HostFacts['debianRoot'] | null;
  tools: ToolFacts[];
}

interface Entry { format: number; key: string; deps: [string, string | null][]; facts: CachedFacts }

/** What the last lookup in this process found: for the test that pins invalidation (no timing is asserted). */
export const factsCacheStats = { hits: 0, misses: 0 };

/** A file's or directory's identity; null when it is not there (its appearing later invalidates too). */
export function identity(path: string): string | null {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.mode}`;
  } catch { return null; }
}

/** This niso's code: the file this module was loaded from (a rebuilt or upgraded niso has another). */
let codeId: string | null | undefined;
function code(): string | null {
  if (codeId === undefined) { try { codeId = identity(fileURLToPath(import.meta.url)); } catch { codeId = null; } }
  return codeId;
}

export function factsDir(root: string): string {
  return layout(root).hostFacts;
}

export function factsKey(input: { digest: string; path: string; manifest: Manifest; envPath: string | undefined }): string {
  return createHash('sha256').update(JSON.stringify([FORMAT, code(), input.digest, input.path, input.manifest, input.envPath ?? null])).digest('hex').slice(0, 32);
}

/** The remembered facts for key, or null (none, damaged, or one of the files they came from changed). */
export function readFacts(root: string, key: string): CachedFacts | null {
  let entry: Entry;
  try { entry = JSON.parse(readFileSync(join(factsDir(root), `${key}.json`), 'utf8')) as Entry; } catch { factsCacheStats.misses++; return null; }
  if (entry.format !== FORMAT || entry.key !== key || !Array.isArray(entry.deps) || !entry.deps.every(([p, id]) => identity(p) === id)) {
    factsCacheStats.misses++;
    return null;
  }
  factsCacheStats.hits++;
  return entry.facts;
}

/**
 * Remembers facts with the identities of `deps` as they are now. A cache that cannot be written costs the next start
 * the discovery again, nothing else.
 */
export async function writeFacts(root: string, key: string, deps: Iterable<string>, facts: CachedFacts): Promise<void> {
  const entry: Entry = { format: FORMAT, key, deps: [...new Set(deps)].sort().map((p) => [p, identity(p)]), facts };
  await writeFileAtomic(join(factsDir(root), `${key}.json`), JSON.stringify(entry)).catch(() => undefined);
}
