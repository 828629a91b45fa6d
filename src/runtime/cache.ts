// A persistent cache of what runtime discovery learns by running programs (versions, via
// `node --version`) and ldd (file closures), so that `niso run` does not spawn them on every
// start. Entries are keyed by the files' identity (inode, size, mtime) and a closure is used only
// while every file in it is unchanged: upgrading the runtime or a library invalidates it.
import { readFileSync, statSync } from 'node:fs';
import { writeFileAtomic } from '../host/fs-atomic.js';
import type { RuntimeInfo } from './types.js';

const FORMAT = 1;

interface CacheFile {
  format: number;
  probes: Record<string, { key: string; value: unknown }>;
  closures: Record<string, { files: [string, string][]; info: RuntimeInfo }>;
}

export function fileKey(path: string): string | null {
  try {
    const st = statSync(path);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch { return null; }
}

export class RuntimeCache {
  private data: CacheFile = { format: FORMAT, probes: {}, closures: {} };
  private dirty = false;

  constructor(private readonly file: string) {
    try {
      const d = JSON.parse(readFileSync(file, 'utf8')) as CacheFile;
      if (d.format === FORMAT) this.data = d;
    } catch { /* no cache yet, or unreadable: start empty */ }
  }

  /** A cached probe result for a program, valid while the program file is unchanged. */
  async probe<T>(id: string, path: string, compute: () => Promise<T>): Promise<T> {
    const key = fileKey(path);
    const hit = this.data.probes[id];
    if (key !== null && hit && hit.key === key) return hit.value as T;
    const value = await compute();
    if (key !== null) { this.data.probes[id] = { key, value }; this.dirty = true; }
    return value;
  }

  /** A cached closure, valid while every file it mounts is unchanged. */
  async closure(id: string, compute: () => Promise<RuntimeInfo>): Promise<RuntimeInfo> {
    const hit = this.data.closures[id];
    if (hit && hit.files.every(([p, k]) => fileKey(p) === k)) return hit.info;
    const info = await compute();
    const files: [string, string][] = [];
    for (const m of info.mounts) {
      const k = fileKey(m.source);
      if (k === null) return info; // something vanished meanwhile: do not cache
      files.push([m.source, k]);
    }
    this.data.closures[id] = { files, info };
    this.dirty = true;
    return info;
  }

  async save(): Promise<void> {
    if (!this.dirty) return;
    await writeFileAtomic(this.file, JSON.stringify(this.data)).catch(() => undefined);
    this.dirty = false;
  }
}
