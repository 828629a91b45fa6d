// Reading what the host's ldd prints. ldd runs the real dynamic loader, so its answer is the
// truth about which files a binary needs; this file only turns its text into data (pure).

export interface LddLibrary {
  /** The name the object asked for (its DT_NEEDED entry), or the path for absolute entries. */
  name: string;
  /** Where the loader found it, exactly as it will look it up; null when it was not found. */
  path: string | null;
}

export interface LddReport {
  file: string;
  /** False for static binaries and for files that are not ELF objects (scripts, data). */
  dynamic: boolean;
  libraries: LddLibrary[];
  /** Lines that did not fit any known form; kept for error messages. */
  unparsed: string[];
}

const ADDR = /\s+\(0x[0-9a-f]+\)$/i;
const VDSO = /^linux-(?:vdso|gate|vdso32|vdso64)\.so\.\d+$/;
const NOT_DYNAMIC = /^(?:not a dynamic executable|statically linked|not a dynamic program)$/i;

/** Parses one ldd section (the lines that describe one file). */
function parseSection(file: string, lines: string[]): LddReport {
  const report: LddReport = { file, dynamic: true, libraries: [], unparsed: [] };
  let sawAny = false;
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '') continue;
    sawAny = true;
    if (NOT_DYNAMIC.test(line)) { report.dynamic = false; continue; }
    const arrow = line.indexOf(' => ');
    if (arrow >= 0) {
      const name = line.slice(0, arrow).trim();
      const rest = line.slice(arrow + 4).trim();
      if (/^not found$/i.test(rest)) { report.libraries.push({ name, path: null }); continue; }
      const path = rest.replace(ADDR, '');
      // Old loaders print "linux-vdso.so.1 =>  (0x...)": a kernel-provided object, no file.
      if (path === '' || /^\(0x[0-9a-f]+\)$/i.test(rest)) continue;
      if (path.startsWith('/')) { report.libraries.push({ name, path }); continue; }
      report.unparsed.push(line);
      continue;
    }
    const bare = line.replace(ADDR, '');
    if (VDSO.test(bare)) continue;
    // "/lib64/ld-linux-x86-64.so.2 (0x...)": the loader, or a DT_NEEDED given as an absolute path.
    if (bare.startsWith('/') && bare !== line) { report.libraries.push({ name: bare, path: bare }); continue; }
    report.unparsed.push(line);
  }
  if (!sawAny) report.dynamic = false;
  return report;
}

/**
 * Splits ldd's output into one report per file. With several files ldd heads each section with
 * "FILE:"; with one file there is no header.
 */
export function parseLddOutput(stdout: string, files: readonly string[]): LddReport[] {
  const lines = stdout.split('\n');
  if (files.length === 1) {
    const body = lines[0] === `${files[0]}:` ? lines.slice(1) : lines;
    return [parseSection(files[0]!, body)];
  }
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  let next = 0;
  for (const line of lines) {
    // Headers come in argument order; a header is recognised only as the next expected one, so
    // a library path that happens to end in ":" cannot start a section.
    const header = files.findIndex((f, i) => i >= next && line === `${f}:`);
    if (header >= 0) {
      current = [];
      sections.set(files[header]!, current);
      next = header + 1;
      continue;
    }
    current?.push(line);
  }
  return files.map((f) => parseSection(f, sections.get(f) ?? []));
}

/** True for the dynamic loader's own file name (ld-linux-x86-64.so.2, ld-linux-aarch64.so.1, ld-musl-x86_64.so.1). */
export function isLoaderPath(path: string): boolean {
  return /\/ld-(?:linux|musl)[^/]*\.so[.\d]*$/.test(path) || /\/ld\.so[.\d]*$/.test(path);
}

/**
 * The loader's built-in search directories from `ld.so --help` (glibc 2.33+): the directories it
 * searches without /etc/ld.so.cache, which the sandbox does not have.
 */
export function parseLoaderSearchPath(help: string): string[] {
  const out: string[] = [];
  for (const line of help.split('\n')) {
    const m = /^\s+(\/\S*)\s+\(system search path\)\s*$/.exec(line);
    if (m) out.push(m[1]!);
  }
  return out;
}
