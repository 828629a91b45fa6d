// The actor of an audit entry from what the kernel says (uid, login uid) and what the login path set (SUDO_USER,
// SSH_CLIENT), and the host's machine id.
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { Actor } from '../entry.js';

/** The login uid the kernel keeps for a session; 4294967295 (-1) means "not set" (a daemon, a boot script). */
function loginUid(): number | null {
  try {
    const n = Number(readFileSync('/proc/self/loginuid', 'utf8').trim());
    return Number.isSafeInteger(n) && n !== 4294967295 ? n : null;
  } catch { return null; }
}

function userName(): string | null {
  try { return userInfo().username; } catch { return null; }
}

export function currentActor(env: Readonly<Record<string, string | undefined>>): Actor {
  const nonEmpty = (v: string | undefined) => (v === undefined || v === '' ? null : v);
  return {
    uid: process.getuid?.() ?? 0,
    user: userName(),
    sudo_user: nonEmpty(env.SUDO_USER),
    ssh: nonEmpty(env.SSH_CLIENT),
    login_uid: loginUid(),
  };
}

let machine: string | null | undefined;

/** /etc/machine-id of the host (not below NISO_ROOT: the machine is the same whatever root niso uses). */
export function machineId(): string | null {
  if (machine === undefined) {
    try { machine = readFileSync('/etc/machine-id', 'utf8').trim() || null; } catch { machine = null; }
  }
  return machine;
}
