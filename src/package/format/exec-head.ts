// What execve(2) reads of a program's first bytes: the ELF magic, or a "#!" line naming an interpreter. One parser
// for every place that must tell how the kernel will start a file (a host tool, a command `niso exec` looks up).
import { isElf } from './elf.js';

/** The bytes the kernel reads for a "#!" line (BINPRM_BUF_SIZE since Linux 5.1). */
export const EXEC_HEAD_BYTES = 256;

export type ExecKind = { kind: 'elf' } | { kind: 'script'; interpreter: string } | { kind: 'other' };

/**
 * How the kernel starts a file that begins with `head`: an ELF object, a script for the interpreter its "#!" line
 * names (empty when it names none: execve fails with ENOEXEC), or neither.
 */
export function execKind(head: Uint8Array): ExecKind {
  if (isElf(head)) return { kind: 'elf' };
  if (head[0] !== 0x23 || head[1] !== 0x21) return { kind: 'other' };
  const line = Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('latin1', 2).split('\n')[0]!;
  return { kind: 'script', interpreter: line.replace(/^[ \t]+/, '').split(/[ \t]/)[0] ?? '' };
}
