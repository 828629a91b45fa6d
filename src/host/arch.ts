// The host's CPU architecture, in niso's names (x86_64, aarch64: what packages say) and in the others a package meets
// (Debian's amd64, the multiarch triplet), from the one table in package/format/arches.ts.
import { arch } from 'node:os';
import { archBy, type ArchNames } from '../package/format/arches.js';

export function hostArch(): string {
  return archBy('node', arch())?.niso ?? arch();
}

/** Every name of the host's architecture, or undefined on a CPU niso has no names for. */
export function hostArchNames(): ArchNames | undefined {
  return archBy('node', arch());
}
