// The write-ahead journal of a switch: one JSON line per step, appended and flushed (fdatasync) BEFORE the step's side
// effect, so that after a SIGKILL or a power loss at any point the next niso command knows what the switch meant to do
// and how far it got (recover.ts). It lives under /var/lib (not /run, which a reboot may empty) and exists only while
// a switch is under way; a finished one moves to history/ (the last HISTORY_KEEP are kept).
import { closeSync, constants as FS, fdatasyncSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NisoError } from '../errors/niso-error.js';
import type { ServiceAction } from './types.js';
import { layout } from '../store/layout.js';

export const HISTORY_KEEP = 50;

/** A generation as the journal names it. */
export interface GenerationRef { n: number; hash: string }

export type SwitchKind = 'switch' | 'rollback';

export type JournalLine =
  /** What the switch will do, written before anything is done. */
  | {
    t: 'begin'; id: string; at: string; kind: SwitchKind;
    /** The switching process, with its start time (a reused pid is another process). */
    pid: number; pidStart: number | null;
    from: GenerationRef | null; to: GenerationRef;
    /** Whether `to` was made by this switch (a new number) or is an existing one (rollback, switch N). */
    created: boolean;
    actions: ServiceAction[];
    /** The services that ran when the switch began: recovery brings back exactly these. */
    running: string[];
  }
  /**
   * The data phase (generation/data.ts), before the first action: what it will do (`withData`: restore the target's
   * snapshots), the writers it stops, each snapshot taken (id) or skipped (reason), each restore begun and done.
   */
  | { t: 'data'; withData: boolean; volumes: string[]; stop: string[] }
  | { t: 'snapshot'; volume: string; id: string | null; method?: string; reason?: string }
  | { t: 'restore'; i: number; volume: string; snapshot: string; phase: 'start'; at: string }
  | { t: 'restore'; i: number; volume: string; snapshot: string; phase: 'done'; replaced: string }
  /** A restore taken back on the way back to `from` (its live data put back in place). */
  | { t: 'restore-undone'; i: number }
  /** One action of `actions` (i) about to be applied, or applied. */
  | { t: 'step'; i: number; phase: 'start' | 'done' }
  /** SafeSwitch refused the new generation, or an action failed: the way back to `from` begins. */
  | { t: 'gate-failed'; reason: string }
  /** `i` is the action's index, or -1 when the data phase failed (a snapshot or restore, before any action). */
  | { t: 'apply-failed'; i: number; reason: string }
  /** The actions that take the host back from `to` to `from`, each with its steps. */
  | { t: 'revert'; actions: ServiceAction[] }
  | { t: 'revert-step'; i: number; phase: 'start' | 'done' }
  /** The new generation is what runs: only bookkeeping (status, `current`) may be left. */
  | { t: 'commit'; at: string }
  /** The switch ended: committed, or back at `from`. */
  | { t: 'end'; at: string; result: 'committed' | 'reverted' | 'recovered' };

export interface ParsedJournal {
  lines: JournalLine[];
  /** The last line was cut short (a crash in the middle of its write): it is ignored, as it never took effect. */
  torn: boolean;
}

/** Where a root's generations live (store.ts generationPaths): beside the package store, not in it. */
export const generationsDir = (root: string): string => join(dirname(layout(root).store), 'generations');

/** The journal of a root's switch; it exists only while one is under way (or was cut short). */
export const journalFile = (root: string): string => join(generationsDir(root), 'journal.jsonl');

/**
 * Whether a switch may have been cut short: the journal is there, or could not be looked at (readJournal then says
 * why). What a read command asks before it loads the switch engine to recover (issue 17).
 */
export function journalPresent(root: string): boolean {
  try { statSync(journalFile(root)); return true; } catch (e) { return (e as NodeJS.ErrnoException).code !== 'ENOENT'; }
}

/**
 * The journal's lines. Only the LAST line may be damaged (a write cut short by a crash: its step never began, since each
 * side effect follows its line's flush); a damaged line before it means the file was changed outside niso.
 */
export function parseJournal(text: string, file: string): ParsedJournal {
  const raw = text.split('\n');
  if (raw.at(-1) === '') raw.pop();
  const lines: JournalLine[] = [];
  let torn = false;
  raw.forEach((l, idx) => {
    let v: unknown;
    try { v = JSON.parse(l); } catch { v = null; }
    const ok = v !== null && typeof v === 'object' && typeof (v as { t?: unknown }).t === 'string';
    if (ok) { lines.push(v as JournalLine); return; }
    if (idx === raw.length - 1) { torn = true; return; }
    throw new NisoError('NISO6030', `${file}: line ${idx + 1} is not a journal line, and it is not the last one`, {
      path: file, hint: 'niso writes the journal a line at a time; a damaged line before the last one means the file was changed outside niso (`niso explain NISO6030`)',
    });
  });
  return { lines, torn };
}

export function readJournal(file: string): ParsedJournal | null {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return parseJournal(text, file);
}

/** Appends one line and flushes it to the disk before returning: the step it announces may begin now. */
export function appendJournal(file: string, line: JournalLine): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const created = !exists(file);
  const fd = openSync(file, FS.O_WRONLY | FS.O_APPEND | FS.O_CREAT | FS.O_NOFOLLOW, 0o600);
  try {
    const buf = Buffer.from(JSON.stringify(line) + '\n', 'utf8');
    for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // A new file's name must be on the disk too, or a power loss could keep the data and lose the name.
  if (created) fsyncDir(dirname(file));
}

function exists(file: string): boolean {
  try { statSync(file); return true; } catch { return false; }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, FS.O_RDONLY | FS.O_DIRECTORY);
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/** The finished journal goes to history/<id>.jsonl (rename: it is there or still here, never lost), bounded. */
export function retireJournal(file: string, historyDir: string, id: string): void {
  mkdirSync(historyDir, { recursive: true, mode: 0o700 });
  renameSync(file, join(historyDir, `${id}.jsonl`));
  fsyncDir(historyDir);
  fsyncDir(dirname(file));
  let names: { name: string; mtime: number }[];
  try { names = readdirSync(historyDir).filter((n) => n.endsWith('.jsonl')).map((name) => ({ name, mtime: statSync(join(historyDir, name)).mtimeMs })); } catch { return; }
  names.sort((a, b) => a.mtime - b.mtime || (a.name < b.name ? -1 : 1));
  for (const old of names.slice(0, Math.max(0, names.length - HISTORY_KEEP))) {
    try { unlinkSync(join(historyDir, old.name)); } catch { /* gone */ }
  }
}
