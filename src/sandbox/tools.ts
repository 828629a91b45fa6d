// Finds the host programs a manifest asks for ([isolation] tools) and their shared libraries, for the plan; a tool the
// host cannot give is an error that names the manifest's field and line.
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { NisoError } from '../errors/niso-error.js';
import { readHead } from '../host/read-bounded.js';
import { EXEC_HEAD_BYTES, execKind, type ExecKind } from '../package/format/exec-head.js';
import type { Manifest } from '../manifest/schema.js';
import { manifestTools, type ToolFacts } from '../plan/build-plan.js';
import { computeElfClosure, LddCache } from '../runtime/elf-closure.js';

/** Where tools are looked for, in order: the system's own directories, not /usr/local (an admin's, per host). */
export const TOOL_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'] as const;

/** The manifest's tools on this host; `manifestFile` (the package's manifest.toml) is read only to place an error. */
export async function resolveTools(manifest: Manifest, manifestFile: string): Promise<ToolFacts[]> {
  const tools = manifestTools(manifest);
  if (tools.length === 0) return [];
  try {
    return await resolveFound(tools);
  } catch (e) {
    if (!(e instanceof ToolError)) throw e;
    throw new NisoError('NISO3106', `isolation.tools[${e.index}]: ${e.message}`, { exitCode: 1, hint: e.hint, field: `isolation.tools[${e.index}]`, ...await placeOf(manifestFile, e.index) });
  }
}

/** A tool the host cannot give: turned into NISO3106 with its place in the manifest (placeOf) by resolveTools. */
class ToolError extends Error {
  constructor(readonly index: number, message: string, readonly hint: string) { super(message); }
}

async function resolveFound(tools: string[]): Promise<ToolFacts[]> {
  const cache = new LddCache();
  const found: { name: string; source: string; kind: ExecKind }[] = [];
  const fail = (i: number, message: string, hint: string): never => { throw new ToolError(i, message, hint); };
  tools.forEach((name, i) => {
    const at = TOOL_DIRS.map((d) => join(d, name)).find((p) => existsSync(p));
    if (at === undefined) fail(i, `the tool "${name}" is not on this host (looked in ${TOOL_DIRS.join(', ')})`, `install the host package that provides it (e.g. \`apt-file search bin/${name}\`), or remove it from [isolation] tools`);
    const source = realpathSync(at!);
    const st = statSync(source);
    if (!st.isFile() || (st.mode & 0o111) === 0) fail(i, `the tool "${name}" (${source}) is not an executable file`, 'name a program, or remove it from [isolation] tools');
    if ((st.mode & 0o6000) !== 0) fail(i, `the tool "${name}" (${source}) is setuid or setgid`, 'a sandbox never holds a privileged program (no_new_privs would make it useless anyway); remove it from [isolation] tools');
    const kind = execKind(readHead(source, EXEC_HEAD_BYTES));
    if (kind.kind === 'script') {
      // The interpreter is found in the sandbox only if it is a tool too, at the path the script names.
      const m = /^\/(?:usr\/)?s?bin\/([^/]+)$/.exec(kind.interpreter);
      if (!m || !tools.includes(m[1]!)) fail(i, `the tool "${name}" (${source}) is a script for ${kind.interpreter || 'an interpreter it does not name'}, which is not among the tools`, m ? `add "${m[1]}" to [isolation] tools` : 'name a program, or remove it from [isolation] tools');
    } else if (kind.kind === 'other') {
      fail(i, `the tool "${name}" (${source}) is neither a program nor a "#!" script`, 'name a program, or remove it from [isolation] tools');
    }
    found.push({ name, source, kind });
  });
  const elf = found.filter((t) => t.kind.kind === 'elf');
  // A library the tool lacks is the tool's problem: said at its place in the manifest, with the Debian package.
  const closures = await Promise.all(elf.map((t) => computeElfClosure([t.source], { cache }).catch((e: unknown) => {
    if (!(e instanceof NisoError) || e.code !== 'NISO3003') throw e;
    return fail(tools.indexOf(t.name), `the tool "${t.name}" (${t.source}) cannot run here: ${e.message}`, e.hint ?? 'install what it needs, or remove it from [isolation] tools');
  })));
  return found.map((t) => {
    const k = elf.indexOf(t);
    return { name: t.name, source: t.source, libraries: k < 0 ? [] : closures[k]!.mounts.map((x) => ({ source: x.source, target: x.target })) };
  });
}

/**
 * The line and column of tools[i] in the package's manifest.toml, when it can be read; otherwise just the file. The
 * TOML parser with positions is loaded only here, for the error: every start resolves tools.
 */
async function placeOf(file: string, i: number): Promise<{ file: string; line?: number; column?: number }> {
  try {
    const { locate, readToml } = await import('../manifest/toml-positions.js');
    const r = readToml(readFileSync(file), file);
    if (!r.ok) return { file };
    const pos = locate(r.doc, ['isolation', 'tools', i]);
    return { file, line: pos.line, column: pos.column };
  } catch {
    return { file };
  }
}
