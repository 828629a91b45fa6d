// Generations on disk: immutable content objects named by their sha256, numbered metadata that only changes status, and
// the `current` link to the last committed one, each replaced whole (temp + fsync + rename/link). Kept apart from the
// package store (store/), whose listing and gc are about packages. Readers trust nothing: every file is bounded, parsed,
// shape-checked and (content) re-hashed, and a damaged one is named in a NisoError.
import { closeSync, constants as FS, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, renameSync, rmSync, rmdirSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { NisoError } from '../errors/niso-error.js';
import { currentActor } from '../audit/host/actor.js';
import { withLock } from '../host/lock.js';
import { isAlive } from '../host/liveness.js';
import { readRegularFile } from '../host/read-bounded.js';
import { layout } from '../store/layout.js';
import { listServiceNames, readDefinition } from '../service/store.js';
import { summarize, diffGenerations } from './diff.js';
import { canonicalJson, contentOf, entryOf, generationHash } from './hash.js';
import { DEFAULT_RETENTION, retainedNumbers, type RetentionPolicy } from './retention.js';
import { generationsDir, journalFile } from './journal.js';
import { GENERATION_FORMAT, type GenerationContent, type GenerationMeta, type GenerationStatus } from './types.js';

export const MAX_OBJECT_BYTES = 16 * 1024 * 1024;
export const MAX_META_BYTES = 256 * 1024;
/** Contents hold services' environments (often secrets): root's alone, like service.json. */
const FILE_MODE = 0o600;

export interface GenerationPaths {
  dir: string;
  objects: string;
  /** Symlink to system-N.json of the last committed generation. */
  current: string;
  /** The write-ahead journal of a switch under way (the engine's). */
  journal: string;
  /** Journals of finished switches. */
  history: string;
  /** The switch lock: every change of generations happens under it. */
  lock: string;
  meta(n: number): string;
  object(hash: string): string;
}

export function generationPaths(root: string): GenerationPaths {
  const dir = generationsDir(root);
  const objects = join(dir, 'objects');
  return {
    dir, objects,
    current: join(dir, 'current'),
    journal: journalFile(root),
    history: join(dir, 'history'),
    lock: join(dir, 'lock'),
    meta: (n) => join(dir, metaName(n)),
    object: (hash) => join(objects, `${hash}.json`),
  };
}

const metaName = (n: number) => `system-${n}.json`;
const META_NAME = /^system-([1-9][0-9]{0,15})\.json$/;
const HASH_RE = /^[0-9a-f]{64}$/;
const STATUSES: readonly GenerationStatus[] = ['pending', 'good', 'failed', 'rolled-back'];

export interface Generation { meta: GenerationMeta; content: GenerationContent }

// --- reading -----------------------------------------------------------------------------------

const damaged = (file: string, what: string, hint?: string) => new NisoError('NISO6001', `${file} (${what}) is damaged: ${hint ?? 'it is not what niso wrote'}`, {
  path: file, hint: 'restore it from a backup; `niso explain NISO6001` says what else can be done',
});

/** A file's JSON, read with a bound and without following a symlink; null when it does not exist. */
function readJsonFile(file: string, what: string, max: number): unknown {
  let read;
  try {
    if (lstatSync(file).isSymbolicLink()) throw damaged(file, what, 'a symlink (niso writes regular files here and follows no link)');
    read = readRegularFile(file, max);
  } catch (e) {
    if (e instanceof NisoError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'EACCES' || code === 'EPERM') throw e;
    throw damaged(file, what, `cannot be read: ${(e as Error).message}`);
  }
  if (!read.ok) throw damaged(file, what, `not a regular file but ${read.what}`);
  if (read.bytes.length > max) {
    throw new NisoError('NISO6009', `${file} (${what}) is larger than ${max / 1024} KiB`, { path: file, hint: 'niso never writes one that large: it was changed outside niso' });
  }
  const text = read.bytes.toString('utf8');
  try { return JSON.parse(text); } catch (e) {
    // JSON.parse's own message quotes the text, which may hold a service's environment: only what kind of damage.
    const early = /end of JSON|Unterminated/i.test((e as Error).message);
    throw damaged(file, what, text.trim() === '' ? 'it is empty' : early ? 'its JSON ends too early: the file was cut short' : 'it is not valid JSON');
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const nullableString = (v: unknown) => v === null || typeof v === 'string';

/** The metadata's shape, field by field, so that the error names the field. */
function checkMeta(v: unknown, n: number, file: string): GenerationMeta {
  const bad = (field: string) => damaged(file, `metadata of generation ${n}`, `the field "${field}" is missing or wrong`);
  if (!isObject(v)) throw damaged(file, `metadata of generation ${n}`, 'not a JSON object');
  if (v.number !== n) throw bad('number');
  if (typeof v.hash !== 'string' || !HASH_RE.test(v.hash)) throw bad('hash');
  if (typeof v.createdAt !== 'string') throw bad('createdAt');
  if (!(v.parent === null || (typeof v.parent === 'number' && Number.isInteger(v.parent)))) throw bad('parent');
  if (!isStrings(v.command)) throw bad('command');
  const a = v.actor;
  if (!isObject(a) || typeof a.uid !== 'number' || !nullableString(a.user) || !nullableString(a.sudoUser) || !nullableString(a.ssh)) throw bad('actor');
  if (!STATUSES.includes(v.status as GenerationStatus)) throw bad('status');
  if (v.reason !== undefined && typeof v.reason !== 'string') throw bad('reason');
  if (!isStrings(v.summary)) throw bad('summary');
  return v as unknown as GenerationMeta;
}

/** The metadata of generation n; null when there is none. */
function readMetaOrNull(root: string, n: number): GenerationMeta | null {
  const file = generationPaths(root).meta(n);
  const v = readJsonFile(file, `metadata of generation ${n}`, MAX_META_BYTES);
  return v === null ? null : checkMeta(v, n, file);
}

export function noSuchGeneration(root: string, n: number): NisoError {
  const known = generationNumbers(root);
  return new NisoError('NISO6005', `there is no generation ${n}`, {
    hint: known.length > 0 ? `generations here: ${compactRanges(known)} (\`niso generation list\`)` : 'this host has no generations yet',
  });
}

export function readMeta(root: string, n: number): GenerationMeta {
  const m = readMetaOrNull(root, n);
  if (!m) throw noSuchGeneration(root, n);
  return m;
}

/** A content object, checked against its name: what is read is exactly what was hashed. */
export function readObject(root: string, hash: string, by?: string): GenerationContent {
  const file = generationPaths(root).object(hash);
  const v = readJsonFile(file, `content of ${by ?? `generation ${hash.slice(0, 12)}`}`, MAX_OBJECT_BYTES);
  if (v === null) {
    throw new NisoError('NISO6002', `${by ?? 'a generation'} names content ${hash}, and ${file} is not there`, { path: file, hint: 'restore the file from a backup; `niso explain NISO6002`' });
  }
  if (!isObject(v) || !Array.isArray(v.services)) throw damaged(file, `content of ${by ?? 'a generation'}`, 'not a generation\'s content (no "services" list)');
  if (v.version !== GENERATION_FORMAT) throw damaged(file, `content of ${by ?? 'a generation'}`, `format ${JSON.stringify(v.version)}, while this niso reads format ${GENERATION_FORMAT} (a newer niso wrote it?)`);
  const services = v.services as unknown[];
  services.forEach((s, i) => {
    if (!isObject(s) || typeof s.name !== 'string' || !isObject(s.package) || typeof s.package.digest !== 'string' || typeof s.package.name !== 'string'
      || typeof s.package.version !== 'string' || !isObject(s.options) || (s.backend !== 'embedded' && s.backend !== 'systemd') || !isObject(s.logs)
      || typeof s.logs.maxBytes !== 'number' || typeof s.logs.files !== 'number' || typeof s.active !== 'boolean') {
      throw damaged(file, `content of ${by ?? 'a generation'}`, `services[${i}] is not a service entry`);
    }
  });
  let actual: string;
  try { actual = generationHash(v as unknown as GenerationContent); } catch (e) { throw damaged(file, `content of ${by ?? 'a generation'}`, (e as Error).message); }
  if (actual !== hash) {
    throw new NisoError('NISO6004', `${file} hashes to ${actual}, not to the ${hash} it is named by: it was changed after it was written`, { path: file, hint: 'restore it from a backup; a generation\'s content is never edited' });
  }
  return contentOf((v as unknown as GenerationContent).services);
}

export function readGeneration(root: string, n: number): Generation {
  const meta = readMeta(root, n);
  return { meta, content: readObject(root, meta.hash, `generation ${n}`) };
}

/** The number `current` points at; null when there is no `current` yet. */
export function currentNumber(root: string): number | null {
  const p = generationPaths(root);
  let st;
  try { st = lstatSync(p.current); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const badLink = (what: string) => new NisoError('NISO6003', `${p.current} ${what}`, { path: p.current, hint: 'point it at the last good generation: `ln -sfn system-N.json current` in that directory (`niso explain NISO6003`)' });
  if (!st.isSymbolicLink()) throw badLink('is not a symlink (niso makes it a link to system-N.json)');
  const target = readlinkSync(p.current);
  const m = META_NAME.exec(target);
  if (!m) throw badLink(`points to ${JSON.stringify(target)}, not to a system-N.json beside it`);
  return Number(m[1]);
}

/** The last committed generation, with its content; null on a host that has none yet. */
export function readCurrent(root: string): Generation | null {
  const n = currentNumber(root);
  if (n === null) return null;
  const meta = readMetaOrNull(root, n);
  if (!meta) {
    const p = generationPaths(root);
    throw new NisoError('NISO6003', `${p.current} points to ${metaName(n)}, which does not exist`, { path: p.current, hint: 'point it at the last good generation: `ln -sfn system-N.json current` in that directory (`niso explain NISO6003`)' });
  }
  return { meta, content: readObject(root, meta.hash, `generation ${n}`) };
}

/** The numbers of the generations on disk, ascending (by file name; the files are not read). */
export function generationNumbers(root: string): number[] {
  let names: string[];
  try { names = readdirSync(generationPaths(root).dir); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names.map((x) => META_NAME.exec(x)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
}

/** Every generation's metadata, ascending by number. */
export function listGenerations(root: string): GenerationMeta[] {
  return generationNumbers(root).map((n) => readMetaOrNull(root, n)).filter((m): m is GenerationMeta => m !== null);
}

// --- writing -----------------------------------------------------------------------------------

function fsyncDir(dir: string): void {
  const fd = openSync(dir, FS.O_RDONLY | FS.O_DIRECTORY);
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

const tempOf = (target: string) => join(dirname(target), `.${target.slice(dirname(target).length + 1)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);

/** Writes a whole file under a temporary name and flushes it; the caller renames or links it into place. */
function writeTemp(target: string, text: string, mode: number): string {
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  const tmp = tempOf(target);
  const fd = openSync(tmp, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL | FS.O_NOFOLLOW, mode);
  let written = false;
  try {
    const buf = Buffer.from(text, 'utf8');
    for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off);
    fsyncSync(fd);
    written = true;
  } finally {
    closeSync(fd);
    if (!written) { try { unlinkSync(tmp); } catch { /* gone */ } }
  }
  return tmp;
}

function replaceFile(target: string, text: string, mode = FILE_MODE): void {
  const tmp = writeTemp(target, text, mode);
  try { renameSync(tmp, target); } catch (e) {
    try { unlinkSync(tmp); } catch { /* gone */ }
    throw e;
  }
  fsyncDir(dirname(target));
}

/** Writes a file only if its name is free (link(2) fails on an existing name): no two writers get one number. */
function createFile(target: string, text: string, mode = FILE_MODE): boolean {
  const tmp = writeTemp(target, text, mode);
  try {
    linkSync(tmp, target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    try { unlinkSync(tmp); } catch { /* gone */ }
  }
  fsyncDir(dirname(target));
  return true;
}

/** The content as it is stored: sorted keys (its canonical form), indented for a reader. */
function objectText(content: GenerationContent): string {
  return JSON.stringify(JSON.parse(canonicalJson(content)), null, 2) + '\n';
}

/**
 * Writes the content object of a generation and returns its hash. Idempotent: an object already there (and intact) is
 * left alone; a damaged one is replaced by the content that its name promises.
 */
export function writeObject(root: string, content: GenerationContent): string {
  const normal = contentOf(content.services);
  const hash = generationHash(normal);
  const text = objectText(normal);
  if (Buffer.byteLength(text) > MAX_OBJECT_BYTES) {
    throw new NisoError('NISO6009', `the services of this generation take ${Math.ceil(Buffer.byteLength(text) / 1024)} KiB written out, over the bound of ${MAX_OBJECT_BYTES / 1024 / 1024} MiB`, { hint: 'keep large data in config files (--config) or secrets, not in the environment' });
  }
  const file = generationPaths(root).object(hash);
  try {
    readObject(root, hash);
    return hash;
  } catch (e) {
    if (!(e instanceof NisoError) || !['NISO6001', 'NISO6002', 'NISO6004', 'NISO6009'].includes(e.code)) throw e;
  }
  replaceFile(file, text);
  return hash;
}

export interface Actor { uid: number; user: string | null; sudoUser: string | null; ssh: string | null }

/**
 * Who runs this command, as the audit log records it (audit/host/actor.ts: the uid's own name, not $USER, which is a
 * claim), made one bounded line each for tables and metadata.
 */
export function actorOf(env: Readonly<Record<string, string | undefined>>): Actor {
  const a = currentActor(env);
  // eslint-disable-next-line no-control-regex
  const clean = (v: string | null) => (v === null ? null : v.replace(/[\x00-\x1f\x7f]/g, '?').slice(0, 256));
  return { uid: a.uid, user: clean(a.user), sudoUser: clean(a.sudo_user), ssh: clean(a.ssh) };
}

export interface CreateOptions {
  command: string[];
  actor: Actor;
  parent: number | null;
  summary: string[];
  /** pending unless told (adoption records what already runs: good). */
  status?: GenerationStatus;
  reason?: string;
  now?: Date;
}

/**
 * A new numbered generation (content object first, then its metadata), numbered one past the highest on disk; numbers
 * are never reused as long as the newest is never removed (retention and `generation rm` keep it). Callers hold the
 * switch lock; even without it, two writers never get one number (the metadata is created with link(2)).
 */
export function createGeneration(root: string, content: GenerationContent, opts: CreateOptions): GenerationMeta {
  const hash = writeObject(root, content);
  for (let attempt = 0; ; attempt++) {
    const number = (generationNumbers(root).at(-1) ?? 0) + 1;
    const meta: GenerationMeta = {
      number, hash, createdAt: (opts.now ?? new Date()).toISOString(), parent: opts.parent, command: [...opts.command],
      actor: { ...opts.actor }, status: opts.status ?? 'pending', ...(opts.reason !== undefined ? { reason: opts.reason } : {}), summary: [...opts.summary],
    };
    const text = JSON.stringify(meta, null, 2) + '\n';
    if (Buffer.byteLength(text) > MAX_META_BYTES) throw new NisoError('NISO6009', `the metadata of generation ${number} would take over ${MAX_META_BYTES / 1024} KiB`, { hint: 'the command line or summary is too long' });
    if (createFile(generationPaths(root).meta(number), text)) return meta;
    if (attempt > 100) throw new Error('could not find a free generation number');
  }
}

/** A generation's status (and why), rewritten whole. */
export function setStatus(root: string, n: number, status: GenerationStatus, reason?: string): GenerationMeta {
  const { reason: _old, ...rest } = readMeta(root, n);
  const meta: GenerationMeta = { ...rest, status, ...(reason !== undefined ? { reason } : {}) };
  replaceFile(generationPaths(root).meta(n), JSON.stringify(meta, null, 2) + '\n');
  return meta;
}

/** Points `current` at generation n: a new link under a temporary name, renamed over the old one (atomic). */
export function setCurrent(root: string, n: number): void {
  readMeta(root, n);
  const p = generationPaths(root);
  const tmp = tempOf(p.current);
  symlinkSync(metaName(n), tmp);
  try { renameSync(tmp, p.current); } catch (e) {
    try { unlinkSync(tmp); } catch { /* gone */ }
    throw e;
  }
  fsyncDir(p.dir);
}

/** Every change of generations (a switch, adoption, pruning) runs under this lock. Not reentrant. */
export function withSwitchLock<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const p = generationPaths(root);
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  return withLock(p.lock, 'the generations (a switch may be under way)', fn);
}

// --- adoption ----------------------------------------------------------------------------------

/**
 * A host that has services but no generations yet (every host before generations) gets generation 1 from its
 * installed definitions, status good, as what already runs: active = desired active. Returns it, or null when there
 * is a `current` already or no service to adopt. Call under withSwitchLock. An adoption cut short before `current`
 * was set is finished instead of made twice.
 */
export function adoptInstalled(root: string, opts: { actor?: Actor; now?: Date } = {}): GenerationMeta | null {
  if (currentNumber(root) !== null) return null;
  const defs = listServiceNames(root).map((n) => readDefinition(root, n)).filter((d) => d !== null);
  if (defs.length === 0) return null;
  const content = contentOf(defs.map((d) => entryOf(d, d.desired === 'active')));
  const hash = generationHash(content);
  const earlier = listGenerations(root).reverse().find((m) => m.command.length === 1 && m.command[0] === 'adopted' && m.hash === hash);
  const meta = earlier ?? createGeneration(root, content, {
    command: ['adopted'], actor: opts.actor ?? actorOf(process.env), parent: null, status: 'good', now: opts.now,
    summary: summarize(diffGenerations(null, content)),
  });
  setCurrent(root, meta.number);
  return meta;
}

// --- retention and GC roots --------------------------------------------------------------------

/** The policy from /etc/niso/config.toml's [generations], else the defaults. */
export async function retentionPolicy(root: string): Promise<RetentionPolicy> {
  const { readGenerationRetention } = await import('../store/host-config.js');
  return { ...DEFAULT_RETENTION, ...(await readGenerationRetention(layout(root).config)) };
}

/** The generations retention keeps (by the host's policy unless one is given), ascending. */
export async function retained(root: string, now: Date, policy?: RetentionPolicy): Promise<GenerationMeta[]> {
  const metas = listGenerations(root);
  const keep = retainedNumbers(metas, currentNumber(root), now, policy ?? await retentionPolicy(root));
  return metas.filter((m) => keep.has(m.number));
}

/**
 * GC roots: each package digest that a retained generation names, with those generations' numbers. A damaged
 * generation fails this (and so every removal) rather than let a rollback target's package go.
 */
export async function retainedPackages(root: string, now: Date, policy?: RetentionPolicy): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  const contents = new Map<string, GenerationContent>();
  for (const m of await retained(root, now, policy)) {
    let c = contents.get(m.hash);
    if (!c) contents.set(m.hash, c = readObject(root, m.hash, `generation ${m.number}`));
    for (const s of c.services) {
      const list = out.get(s.package.digest) ?? [];
      if (!list.includes(m.number)) list.push(m.number);
      out.set(s.package.digest, list);
    }
  }
  return out;
}

export interface PruneResult {
  /** The generations whose metadata was (or would be) removed. */
  removed: number[];
  /** Content objects no remaining generation names. */
  objects: string[];
  /** niso's copies of config files that no remaining generation and no service's definition names. */
  configs: string[];
  /** Temporary files that killed writers left. */
  leftovers: string[];
  dryRun: boolean;
}

/** Removes named generations' metadata, then objects nobody names, then dead writers' temporary files. */
function removeGenerations(root: string, numbers: readonly number[], dryRun: boolean): PruneResult {
  const p = generationPaths(root);
  if (!dryRun) for (const n of numbers) { try { unlinkSync(p.meta(n)); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; } }
  const gone = new Set(numbers);
  // Objects of generations that stay, read by name only: a damaged meta was refused by listGenerations already.
  const named = new Set(listGenerations(root).filter((m) => !gone.has(m.number)).map((m) => m.hash));
  const objects: string[] = [];
  for (const name of safeReaddir(p.objects)) {
    const m = /^([0-9a-f]{64})\.json$/.exec(name);
    if (!m || named.has(m[1]!)) continue;
    objects.push(m[1]!);
    if (!dryRun) unlinkSync(join(p.objects, name));
  }
  const configs = unnamedConfigs(root, [...named]);
  if (!dryRun) for (const f of configs) rmSync(f, { force: true });
  if (!dryRun) removeEmptyConfigDirs(root);
  const leftovers: string[] = [];
  for (const dir of [p.dir, p.objects]) {
    for (const name of safeReaddir(dir)) {
      const m = /^\..+\.tmp-(\d+)-[0-9a-f]+$/.exec(name);
      if (!m || isAlive(Number(m[1]))) continue;
      leftovers.push(join(dir, name));
      if (!dryRun) { try { unlinkSync(join(dir, name)); } catch { /* gone */ } }
    }
  }
  if (!dryRun && (numbers.length > 0 || objects.length > 0)) { fsyncDir(p.dir); if (objects.length > 0) fsyncDir(p.objects); }
  return { removed: [...numbers], objects, configs, leftovers, dryRun };
}

/**
 * The config copies (configs/SERVICE/SHA256) that the generations `hashes` name, or null when one cannot be read (then
 * nothing may go). A removed service's copies stay while a generation names them, for a rollback to it.
 */
function configsOf(root: string, hashes: Iterable<string>): Set<string> | null {
  const out = new Set<string>();
  for (const h of new Set(hashes)) {
    let c: GenerationContent;
    try { c = readObject(root, h); } catch { return null; }
    for (const svc of c.services) for (const x of svc.options.configs ?? []) out.add(x.source);
  }
  return out;
}

/** The config copies a removed service leaves that a generation on this host still names (null: keep them all). */
export function configsNamedByGenerations(root: string): Set<string> | null {
  return configsOf(root, listGenerations(root).map((m) => m.hash));
}

/**
 * How long a config copy that nothing names is kept: `stack up` and `activate --config` copy a file before the switch
 * that names it begins (as git keeps unreferenced objects for a while before gc takes them).
 */
export const CONFIG_GRACE_MS = 3_600_000;

/** Config copies older than the grace that neither the remaining generations (`hashes`) nor a service's definition name. */
function unnamedConfigs(root: string, hashes: readonly string[], now = Date.now()): string[] {
  const base = layout(root).configs;
  const named = configsOf(root, hashes);
  if (named === null) return [];
  const out: string[] = [];
  for (const service of safeReaddir(base)) {
    for (const x of readDefinition(root, service)?.options.configs ?? []) named.add(x.source);
    for (const f of safeReaddir(join(base, service))) {
      const path = join(base, service, f);
      let st;
      try { st = lstatSync(path); } catch { continue; }
      if (st.isFile() && !named.has(path) && now - st.mtimeMs > CONFIG_GRACE_MS) out.push(path);
    }
  }
  return out.sort();
}

/** The config dirs of services that are gone and whose copies all went. */
function removeEmptyConfigDirs(root: string): void {
  const base = layout(root).configs;
  for (const service of safeReaddir(base)) {
    if (readDefinition(root, service) !== null) continue;
    try { rmdirSync(join(base, service)); } catch { /* not empty, or gone */ }
  }
}

function safeReaddir(dir: string): string[] {
  try { return readdirSync(dir); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Drops the generations retention does not keep, and the objects only they named. Call under withSwitchLock. */
export async function pruneGenerations(root: string, opts: { now?: Date; policy?: RetentionPolicy; dryRun?: boolean } = {}): Promise<PruneResult> {
  const metas = listGenerations(root);
  const keep = retainedNumbers(metas, currentNumber(root), opts.now ?? new Date(), opts.policy ?? await retentionPolicy(root));
  // The newest is always kept: numbering counts from it, and numbers are never reused.
  const newest = metas.at(-1)?.number;
  return removeGenerations(root, metas.filter((m) => !keep.has(m.number) && m.number !== newest).map((m) => m.number), opts.dryRun === true);
}

/** `niso generation rm N...`: forgets generations by number (not the current, the newest or a pending one). Call under withSwitchLock. */
export function deleteGenerations(root: string, numbers: readonly number[]): PruneResult {
  const metas = listGenerations(root);
  const current = currentNumber(root);
  const newest = metas.at(-1)?.number;
  for (const n of numbers) {
    const m = metas.find((x) => x.number === n);
    if (!m) throw noSuchGeneration(root, n);
    const why = n === current ? 'it is the current generation' : n === newest ? 'it is the newest generation (the next number counts from it)' : m.status === 'pending' ? 'it is pending (a switch may be applying it)' : null;
    if (why) throw new NisoError('NISO6008', `generation ${n} cannot be removed: ${why}`, { hint: n === current ? 'switch or roll back to another generation first' : 'it goes with retention once newer generations exist' });
  }
  return removeGenerations(root, [...new Set(numbers)], false);
}

/** "1-3, 5, 7-9" */
export function compactRanges(ns: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < ns.length;) {
    let j = i;
    while (j + 1 < ns.length && ns[j + 1] === ns[j]! + 1) j++;
    out.push(j === i ? `${ns[i]}` : `${ns[i]}-${ns[j]}`);
    i = j + 1;
  }
  return out.join(', ');
}
