// Reads what the dynamic loader reads of an ELF file (its interpreter, DT_NEEDED, DT_RPATH/DT_RUNPATH), from the
// bytes alone: the library closure of a staged Debian root must be found inside that root, where the host's ldd
// (the host's loader, the host's ld.so.cache) cannot look. Pure: a buffer in, data out.
import { archOfElf } from './arches.js';

export interface ElfDynamic {
  /** 64 or 32 bit, and the e_machine number (62 = x86-64, 183 = aarch64). */
  elfClass: 32 | 64;
  machine: number;
  /** ET_EXEC 2, ET_DYN 3 (shared objects and PIE executables). */
  type: number;
  /** PT_INTERP: the loader an executable names (absent for shared objects and static binaries). */
  interpreter: string | null;
  needed: string[];
  /** DT_RUNPATH, else DT_RPATH, split on ':' (the loader ignores DT_RPATH when DT_RUNPATH is there). */
  searchPath: string[];
  soname: string | null;
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_SONAME = 14n;
const DT_RPATH = 15n;
const DT_RUNPATH = 29n;

export function isElf(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
}

/** null: not an ELF file this reader understands (big-endian, truncated, corrupt); such files are left alone. */
export function readElfDynamic(buf: Buffer): ElfDynamic | null {
  if (!isElf(buf) || buf.length < 52) return null;
  const cls = buf[4] === 2 ? 64 : buf[4] === 1 ? 32 : 0;
  if (cls === 0 || buf[5] !== 1) return null; // little-endian only: every architecture niso packs for
  const is64 = cls === 64;
  try {
    const u16 = (o: number) => buf.readUInt16LE(o);
    const u32 = (o: number) => buf.readUInt32LE(o);
    const word = (o: number): bigint => (is64 ? buf.readBigUInt64LE(o) : BigInt(buf.readUInt32LE(o)));
    const type = u16(16);
    const machine = u16(18);
    const phoff = Number(is64 ? buf.readBigUInt64LE(32) : BigInt(u32(28)));
    const phentsize = u16(is64 ? 54 : 42);
    const phnum = u16(is64 ? 56 : 44);
    const phdrs: { type: number; offset: number; vaddr: bigint; filesz: number }[] = [];
    for (let i = 0; i < phnum; i++) {
      const o = phoff + i * phentsize;
      if (o + phentsize > buf.length) return null;
      phdrs.push(is64
        ? { type: u32(o), offset: Number(buf.readBigUInt64LE(o + 8)), vaddr: buf.readBigUInt64LE(o + 16), filesz: Number(buf.readBigUInt64LE(o + 32)) }
        : { type: u32(o), offset: u32(o + 4), vaddr: BigInt(u32(o + 8)), filesz: u32(o + 16) });
    }
    const cstr = (o: number): string => {
      const end = buf.indexOf(0, o);
      return buf.toString('utf8', o, end < 0 ? buf.length : end);
    };
    const interp = phdrs.find((p) => p.type === PT_INTERP);
    const dyn = phdrs.find((p) => p.type === PT_DYNAMIC);
    const out: ElfDynamic = { elfClass: cls, machine, type, interpreter: interp ? cstr(interp.offset) : null, needed: [], searchPath: [], soname: null };
    if (!dyn) return out;
    // DT_STRTAB is an address: the PT_LOAD segment that holds it maps it back to a file offset.
    const entries: [bigint, bigint][] = [];
    const size = is64 ? 16 : 8;
    for (let o = dyn.offset; o + size <= dyn.offset + dyn.filesz && o + size <= buf.length; o += size) {
      const tag = is64 ? buf.readBigInt64LE(o) : BigInt(buf.readInt32LE(o));
      if (tag === DT_NULL) break;
      entries.push([tag, word(o + size / 2)]);
    }
    const strtabAddr = entries.find(([t]) => t === DT_STRTAB)?.[1];
    if (strtabAddr === undefined) return out;
    const seg = phdrs.find((p) => p.type === PT_LOAD && p.vaddr <= strtabAddr && strtabAddr < p.vaddr + BigInt(p.filesz));
    if (!seg) return null;
    const strtab = seg.offset + Number(strtabAddr - seg.vaddr);
    let rpath: string | null = null;
    let runpath: string | null = null;
    for (const [tag, val] of entries) {
      const s = () => cstr(strtab + Number(val));
      if (tag === DT_NEEDED) out.needed.push(s());
      else if (tag === DT_SONAME) out.soname = s();
      else if (tag === DT_RPATH) rpath = s();
      else if (tag === DT_RUNPATH) runpath = s();
    }
    const path = runpath ?? rpath;
    out.searchPath = path === null ? [] : path.split(':').filter((p) => p !== '');
    return out;
  } catch {
    return null;
  }
}

/** The loader's built-in search directories on Debian (multiarch first), as `ld.so --help` lists them. */
export function defaultLibraryDirs(multiarch: string): string[] {
  return [`/lib/${multiarch}`, `/usr/lib/${multiarch}`, '/lib', '/usr/lib'];
}

/** $ORIGIN, $LIB and $PLATFORM in a DT_RUNPATH entry, for an object at `objectPath` (absolute, inside the root). */
export function expandSearchEntry(entry: string, objectPath: string, multiarch: string): string {
  const origin = objectPath.slice(0, objectPath.lastIndexOf('/')) || '/';
  return entry
    .replace(/\$(\{ORIGIN\}|ORIGIN)/g, origin)
    .replace(/\$(\{LIB\}|LIB)/g, `lib/${multiarch}`)
    .replace(/\$(\{PLATFORM\}|PLATFORM)/g, multiarch.split('-')[0]!);
}

/** The Debian multiarch triplet of an ELF machine, or null for one niso does not know. */
export function multiarchOf(machine: number, elfClass: 32 | 64): string | null {
  return archOfElf(machine, elfClass)?.multiarch ?? null;
}
