// Why the last `__net-up` of a systemd service failed, as it left it for the CLI that started the unit (systemctl only
// says "dependency failed") and for the exit unit: apart from net.ts so that `__after-exit` reads it without loading
// the network code (issue 17).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NisoError } from '../../errors/niso-error.js';
import { netUnitName } from '../../render/systemd-names.js';
import { filesDirOf } from './unit-end.js';

/** The file `__net-up` leaves when it fails. */
export const errorFileOf = (root: string, service: string): string => join(filesDirOf(root, service), 'net-error.json');

/** Why the last `__net-up` of this service failed (its file is removed at each attempt and by every install), or null. */
export function netUpError(root: string, service: string): NisoError | null {
  let j: { code: string; message: string; hint: string | null };
  try {
    j = JSON.parse(readFileSync(errorFileOf(root, service), 'utf8')) as typeof j;
  } catch {
    return null;
  }
  return new NisoError(j.code, `the network of ${service} could not be set up: ${j.message}`, { hint: j.hint ?? `journalctl -u ${netUnitName(service)} shows what happened` });
}
