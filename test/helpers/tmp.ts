// Temporary directories for tests, removed afterwards even when sealed read-only by the store.
import { chmodSync, mkdtempSync } from 'node:fs';
import { mkdir, writeFile, chmod, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';
import { forceRemove } from '../../src/store/fs-tree.js';

export function tempDir(prefix = 'niso-test-'): string {
  const d = mkdtempSync(join(process.env.NISO_TEST_TMP ?? tmpdir(), prefix));
  // Sandboxed apps run as their own uid and must be able to reach the store below NISO_ROOT.
  chmodSync(d, 0o755);
  after(() => forceRemove(d));
  return d;
}

export type TreeSpec = Record<string, string | { content: string; mode?: number } | { symlink: string }>;

/** Writes files (and symlinks) described by a spec; keys are paths relative to `root`. */
export async function writeTree(root: string, spec: TreeSpec, order: 'as-given' | 'reversed' = 'as-given'): Promise<void> {
  const entries = Object.entries(spec);
  if (order === 'reversed') entries.reverse();
  for (const [path, v] of entries) {
    const p = join(root, path);
    await mkdir(dirname(p), { recursive: true });
    if (typeof v === 'string') await writeFile(p, v);
    else if ('symlink' in v) await symlink(v.symlink, p);
    else { await writeFile(p, v.content); if (v.mode !== undefined) await chmod(p, v.mode); }
  }
}

export const NODE_MANIFEST = (name = 'hello', version = '1.0.0', extra = '') => `[package]
name = "${name}"
version = "${version}"

[runtime]
use = "nodejs:20"

[binary]
entrypoint = "node"
args = ["server.js"]
${extra}`;
