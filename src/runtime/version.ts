// Runtime version numbers as niso compares them: the manifest's prefix rule, numeric order, and the release line a
// runtime keeps its compatibility within (pure; shared by choosing, installing and pinning runtimes).
import type { RuntimeName } from './types.js';

const numbers = (v: string): number[] => v.split(/[.+_-]/).map((p) => Number.parseInt(p, 10)).filter((n) => Number.isFinite(n));

/**
 * "20" matches 20.x.y, "3.11" matches 3.11.z, "20.1" matches 20.1.z (not 20.10.0): every component
 * the manifest names must equal the host's, compared as numbers.
 */
export function versionMatches(wanted: string, full: string): boolean {
  const w = wanted.split('.');
  const f = full.split(/[.+_-]/);
  if (w.length === 0 || w.length > f.length) return false;
  return w.every((part, i) => /^\d+$/.test(part) && /^\d+$/.test(f[i] ?? '') && Number(part) === Number(f[i]));
}

/** Orders versions numerically, component by component (10.0.0 > 9.9.9). */
export function compareVersions(a: string, b: string): number {
  const x = numbers(a);
  const y = numbers(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? -1) - (y[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

export const SPEC_VERSION_RE = /^\d+(?:\.\d+){0,2}$/;

/**
 * How many leading components name a runtime's release line: what its programs and native modules are built against.
 * Node.js, Java, Deno and Bun break compatibility between majors; Python, Ruby and PHP between minors (3.11 and 3.12
 * load different C extensions).
 */
export function lineComponents(name: RuntimeName): number {
  return name === 'python' || name === 'ruby' || name === 'php' ? 2 : 1;
}

/** The release line of a version: "22" for nodejs 22.11.0, "3.11" for python 3.11.2. */
export function releaseLine(name: RuntimeName, version: string): string {
  return version.split(/[.+_-]/).slice(0, lineComponents(name)).join('.');
}
