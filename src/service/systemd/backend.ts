// Which backend a new service gets: systemd when it is PID 1 (the check sd_booted(3) makes), the embedded
// supervisor otherwise; `--backend` or `[services] backend` in /etc/niso/config.toml can force one.
import { existsSync } from 'node:fs';
import { NisoError } from '../../errors/niso-error.js';
import type { BackendName } from '../model/types.js';

export const SYSTEMD_RUNTIME_DIR = '/run/systemd/system';

export function systemdIsPid1(): boolean {
  return existsSync(SYSTEMD_RUNTIME_DIR);
}

/**
 * The backend for a new service. `flag` (from --backend) wins over `configured` (the host config's
 * [services] backend); without either, systemd where it is PID 1.
 */
export function chooseBackend(flag: string | undefined, configured: BackendName | undefined, systemd = systemdIsPid1()): BackendName {
  const wanted = flag ?? configured;
  if (wanted !== undefined && wanted !== 'embedded' && wanted !== 'systemd') {
    throw new NisoError('NISO9001', `--backend ${wanted}: expected embedded or systemd`, { exitCode: 2 });
  }
  if (wanted === 'systemd' && !systemd) {
    throw new NisoError('NISO3309', `the systemd backend is not available here: systemd is not PID 1 (${SYSTEMD_RUNTIME_DIR} does not exist)`, {
      exitCode: 1, hint: flag !== undefined ? 'leave out --backend, or use --backend embedded' : 'remove [services] backend from /etc/niso/config.toml, or pass --backend embedded',
    });
  }
  return wanted ?? (systemd ? 'systemd' : 'embedded');
}

/** selectBackend for `niso activate`: the flag, then the host config, then what runs as PID 1. */
export async function selectBackend(root: string, flag?: string): Promise<BackendName> {
  const [{ readServiceBackend }, { layout }] = await Promise.all([import('../../store/host-config.js'), import('../../store/layout.js')]);
  return chooseBackend(flag, await readServiceBackend(layout(root).config));
}
