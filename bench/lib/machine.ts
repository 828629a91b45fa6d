// Facts about the machine a bench ran on, printed with the results so numbers can be compared.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem, release } from 'node:os';
import { dirname } from 'node:path';
import { firstLine, run } from './proc.js';

export interface MachineFacts {
  date: string;
  nproc: string;
  cpu: string;
  memory: string;
  kernel: string;
  node: string;
  npm: string;
  zstd: string;
  tar: string;
  nodeExtraCaCerts: string;
  git: string;
  loadStart: string;
}

/** The 1-, 5- and 15-minute load averages: above ~0.5 something else was using the CPUs. */
export function loadNow(): string {
  return loadavg().map((l) => l.toFixed(2)).join(' / ');
}

export function filesystemOf(path: string): string {
  try {
    const type = run('stat', ['-f', '-c', '%T', path]).stdout.trim();
    const df = run('df', ['-P', path]).stdout.trim().split('\n')[1]?.split(/\s+/) ?? [];
    const [fstype, options] = (run('findmnt', ['-n', '-o', 'FSTYPE,OPTIONS', '-T', path], { timeoutMs: 10_000 }).stdout.trim().split('\n')[0] ?? '').split(/\s+/);
    return `${fstype || type} (${df[0] ?? '?'} on ${df[5] ?? '?'}, ${options ?? 'options unknown'})`;
  } catch {
    return 'unknown';
  }
}

export function machineFacts(repo: string): MachineFacts {
  let git = 'unknown';
  try {
    const head = run('git', ['-C', repo, 'rev-parse', '--short', 'HEAD']).stdout.trim();
    const dirty = run('git', ['-C', repo, 'status', '--porcelain', '--', 'src']).stdout.trim() !== '';
    git = `${head}${dirty ? ' (src/ has uncommitted changes)' : ''}`;
  } catch { /* not a git checkout */ }
  return {
    date: new Date().toISOString(),
    nproc: firstLine('nproc', []) + ` (availableParallelism ${availableParallelism()})`,
    cpu: cpus()[0]?.model ?? 'unknown',
    memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    kernel: release(),
    node: process.version,
    npm: firstLine('npm', ['--version']),
    zstd: firstLine('zstd', ['--version']).replace(/^\*+\s*|\s*\*+$/g, ''),
    tar: firstLine('tar', ['--version']),
    nodeExtraCaCerts: process.env.NODE_EXTRA_CA_CERTS ? 'set' : 'not set',
    git,
    loadStart: loadNow(),
  };
}

/** The rows every report's "Machine" table starts with. */
export function machineRows(f: MachineFacts): [string, string][] {
  return [
    ['date', f.date],
    ['commit', f.git],
    ['nproc / cpu / memory', `${f.nproc} / ${f.cpu} / ${f.memory}`],
    ['kernel', f.kernel],
    ['node', `${f.node} (${process.execPath})`],
  ];
}

/** Prints a report and writes it to `file` whole (a temporary name, then rename). */
export function writeReport(file: string, report: string): void {
  process.stdout.write(report);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, report);
  renameSync(`${file}.tmp`, file);
}
