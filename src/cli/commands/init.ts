// `niso init [dir]`: writes a manifest.toml and a tiny example app from a template, never
// overwriting a file unless --force. The templates themselves are pure (manifest/templates.ts).
import { execFile } from 'node:child_process';
import { lstat, mkdir, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { NisoError } from '../../errors/niso-error.js';
import { isPackageName, toPackageName } from '../../manifest/schema.js';
import { suggest } from '../../manifest/suggest.js';
import {
  DEFAULT_NODE_MAJOR, DEFAULT_PYTHON_VERSION, TEMPLATE_NAMES, isTemplateName, nodeMajorFrom, pythonVersionFrom, renderTemplate,
  type HostFacts, type TemplateName,
} from '../../manifest/templates.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';
import { writeFileAtomic } from '../../host/fs-atomic.js';

export interface InitOptions { template: string; name?: string; force?: boolean; json?: boolean }

/** Runs `cmd --version`; undefined when the tool is missing or fails (init works without it). */
function versionOf(ctx: Context, cmd: string): Promise<string | undefined> {
  return new Promise((done) => {
    execFile(cmd, ['--version'], { env: { ...ctx.env } as NodeJS.ProcessEnv, timeout: 5000, encoding: 'utf8' }, (err, stdout, stderr) => {
      // Python before 3.4 printed its version on stderr.
      done(err ? undefined : `${stdout}${stderr}`.trim());
    });
  });
}

async function hostFacts(ctx: Context, template: TemplateName): Promise<HostFacts> {
  if (template === 'node') {
    const out = await versionOf(ctx, 'node');
    return { nodeMajor: out === undefined ? undefined : nodeMajorFrom(out) };
  }
  if (template === 'python') {
    const out = await versionOf(ctx, 'python3');
    return { pythonVersion: out === undefined ? undefined : pythonVersionFrom(out) };
  }
  return {};
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path); // a dangling symlink exists too, and is not written through
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

export async function run(ctx: Context, dir: string, opts: InitOptions): Promise<void> {
  const template = opts.template ?? 'node';
  if (!isTemplateName(template)) {
    const best = suggest(template, TEMPLATE_NAMES);
    throw new NisoError('NISO1502', `unknown template "${template}"`, { hint: best ? `did you mean "${best}"?` : `use one of ${TEMPLATE_NAMES.join(', ')}`, exitCode: 2 });
  }
  const target = resolve(ctx.cwd, dir);
  const shown = relative(ctx.cwd, target) || '.';

  let name: string;
  if (opts.name !== undefined) {
    if (!isPackageName(opts.name)) {
      throw new NisoError('NISO1101', `"${opts.name}" is not a valid package name`, { hint: `use lower-case letters, digits, ".", "_" and "-", e.g. --name ${toPackageName(opts.name)}`, exitCode: 2 });
    }
    name = opts.name;
  } else {
    name = toPackageName(basename(target));
  }

  const targetStat = await stat(target).catch(() => undefined);
  if (targetStat && !targetStat.isDirectory()) {
    throw new NisoError('NISO1501', `${shown} exists and is not a directory`, { hint: 'choose another directory', exitCode: 2, path: target });
  }

  const facts = await hostFacts(ctx, template);
  const { files, nextSteps } = renderTemplate(template, name, facts);

  // Check every file before writing any, so that a refusal leaves the directory as it was.
  const present: string[] = [];
  for (const f of files) if (await exists(join(target, f.path))) present.push(f.path);
  if (present.length > 0 && !opts.force) {
    const list = present.join(', ');
    throw new NisoError('NISO1501', `${present.length === 1 ? `${list} already exists` : `${list} already exist`} in ${shown}; nothing was written`, { hint: 'pass --force to overwrite', exitCode: 2, path: target });
  }

  for (const f of files) {
    const path = join(target, f.path);
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, f.content);
  }

  if (opts.json) {
    printJson(ctx, { dir: target, template, name, files: files.map((f) => f.path) });
    return;
  }
  if (template === 'node' && facts.nodeMajor === undefined) ctx.stderr.write(`warning: node not found; the manifest asks for nodejs:${DEFAULT_NODE_MAJOR}. Edit [runtime] use to match the host.\n`);
  if (template === 'python' && facts.pythonVersion === undefined) ctx.stderr.write(`warning: python3 not found; the manifest asks for python:${DEFAULT_PYTHON_VERSION}. Edit [runtime] use to match the host.\n`);
  const overwritten = new Set(present);
  const lines = [`Created ${template} app "${name}" in ${shown}:`];
  for (const f of files) lines.push(`  ${f.path}${overwritten.has(f.path) ? '  (overwritten)' : ''}`);
  lines.push('', 'Next steps:');
  if (shown !== '.') lines.push(`  cd ${/^[\w./-]+$/.test(shown) ? shown : JSON.stringify(shown)}`);
  for (const step of nextSteps) lines.push(`  ${step}`);
  ctx.stdout.write(lines.join('\n') + '\n');
}
