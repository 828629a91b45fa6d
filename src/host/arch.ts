// The host's CPU architecture in the names packages use (x86_64, aarch64), not Node's (x64, arm64).
import { arch } from 'node:os';

export function hostArch(): string {
  const a = arch();
  return a === 'x64' ? 'x86_64' : a === 'arm64' ? 'aarch64' : a;
}
