// What every catalog e2e test needs: a test dir reachable by the services' uids, a NISO_ROOT in it, the niso CLI with
// the shared .deb cache (/var/cache/niso-test/debs, kept between runs so the suite does not download every time), and
// removal of its services, volumes and root when the file's tests end.
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeServicesAndTestDir } from './tmp.js';

export const BIN = join(import.meta.dirname, '../../bin/niso');
export const DEB_CACHE = '/var/cache/niso-test/debs';

export interface CatalogEnv {
  /** catalog/NAME of this repository. */
  recipe: string;
  dir: string;
  root: string;
  niso(args: string[], timeout?: number): { code: number | null; stdout: string; stderr: string };
  /** niso, asserted to exit 0; its stdout. */
  ok(args: string[], timeout?: number): string;
  /**
   * NAME.niso packed on the host by catalog-systemd.test.ts, when the suite runs inside its machine (which has no
   * network to fetch .debs): the suite installs it instead of packing (what pack prints is asserted on the host run).
   */
  prepacked: string | null;
}

export function catalogEnv(name: string): CatalogEnv {
  const dir = mkdtempSync(join(tmpdir(), `niso-${name}-`));
  chmodSync(dir, 0o755);
  const root = join(dir, 'root');
  const niso = (args: string[], timeout = 600_000) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: root, NISO_DEB_CACHE: DEB_CACHE }, timeout });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const ok = (args: string[], timeout?: number) => {
    const r = niso(args, timeout);
    assert.equal(r.code, 0, `niso ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  after(() => removeServicesAndTestDir(dir, root, niso, { state: true }));
  const packedDir = process.env.NISO_E2E_CATALOG_PACKED;
  return { recipe: join(import.meta.dirname, '../../catalog', name), dir, root, niso, ok, prepacked: packedDir ? join(packedDir, `${name}.niso`) : null };
}
