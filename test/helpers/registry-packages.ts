// Small packages for the registry tests, packed for real, and the registry environment the client gets (a HOME and
// NISO_ROOT of the test's own, so that no credentials or policy of the machine are read).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { packApp } from '../../src/package/pack.js';
import { writeTree } from './tmp.js';

export async function packSmall(dir: string, name: string, version: string, opts: { arch?: string; extra?: Record<string, string> } = {}): Promise<string> {
  const app = join(dir, `${name}-${version}-${opts.arch ?? 'any'}-src`);
  await writeTree(app, {
    'manifest.toml': `[package]\nname = "${name}"\nversion = "${version}"\narch = "${opts.arch ?? 'any'}"\n\n[binary]\nentrypoint = "run.sh"\n`,
    'run.sh': { content: `#!/bin/sh\necho ${name} ${version}\n`, mode: 0o755 },
    ...(opts.extra ?? {}),
  });
  const out = join(dir, `${name}-${version}-${opts.arch ?? 'any'}.niso`);
  await packApp({ appDir: app, cwd: dir, output: out });
  return out;
}

export function regEnv(root: string, warnings: string[] = [], env: Record<string, string> = {}) {
  const home = join(root, 'home');
  mkdirSync(home, { recursive: true });
  return { root, env: { HOME: home, PATH: process.env.PATH, ...env }, warn: (m: string) => { warnings.push(m); } };
}
