// The CPU architectures niso knows, in every spelling a package meets: niso's own (a manifest's `arch`, `uname -m`),
// Node's process.arch, Debian's architecture, its multiarch triplet, and the ELF header's machine and class. One
// table, so that a .deb's architecture, an ELF file and the host are matched the same way everywhere (pure).

export interface ArchNames {
  niso: string;
  node: string;
  debian: string;
  multiarch: string;
  elfMachine: number;
  elfClass: 32 | 64;
}

export const ARCH_TABLE: readonly ArchNames[] = [
  { niso: 'x86_64', node: 'x64', debian: 'amd64', multiarch: 'x86_64-linux-gnu', elfMachine: 62, elfClass: 64 },
  { niso: 'aarch64', node: 'arm64', debian: 'arm64', multiarch: 'aarch64-linux-gnu', elfMachine: 183, elfClass: 64 },
  { niso: 'i686', node: 'ia32', debian: 'i386', multiarch: 'i386-linux-gnu', elfMachine: 3, elfClass: 32 },
  { niso: 'armv7', node: 'arm', debian: 'armhf', multiarch: 'arm-linux-gnueabihf', elfMachine: 40, elfClass: 32 },
];

/** The row whose `key` spelling is `value`, or undefined for an architecture niso does not know. */
export function archBy<K extends 'niso' | 'node' | 'debian' | 'multiarch'>(key: K, value: string): ArchNames | undefined {
  return ARCH_TABLE.find((a) => a[key] === value);
}

/** The row of an ELF file's machine and class. */
export function archOfElf(machine: number, elfClass: 32 | 64): ArchNames | undefined {
  return ARCH_TABLE.find((a) => a.elfMachine === machine && a.elfClass === elfClass);
}
