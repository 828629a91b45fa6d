// What each command's result adds to its audit entry: names, digests, sizes and outcomes, never a secret's value.
// Kept here so that the hooks in the commands stay one line each.
import type { AuditFields } from './entry.js';
import type { Deactivated } from '../service/ops.js';
import type { BackupResult } from '../volume/backup.js';
import type { RestoreResult } from '../volume/restore.js';
import type { PruneResult } from '../volume/catalog.js';
import type { SecretMeta } from '../secret/store.js';
import type { GcResult } from '../store/remove.js';
import type { Orphans } from '../volume/orphans.js';

export const packageFields = (target: string, pkg: { name: string; version: string; digest: string }, backend?: string): AuditFields =>
  ({ target, details: { package: { name: pkg.name, version: pkg.version, digest: pkg.digest }, ...(backend ? { backend } : {}) } });

/** Per service: its state before and how it ended (null: it did not run). */
export const deactivatedFields = (rs: ({ name: string } & Deactivated)[]): AuditFields =>
  ({ details: { stopped: Object.fromEntries(rs.map((r) => [r.name, { before: r.before.state, exit: r.exit ? { code: r.exit.exitCode, signal: r.exit.signal } : null }])) } });

export const removedServiceFields = (deleteData: boolean) => (r: { removedVolumes: string[] }): AuditFields =>
  ({ details: { data_deleted: deleteData, removed_volumes: r.removedVolumes } });

/** A removal that removed nothing (`rm -f` of what is not there) is no change: no entry. */
export const removedFields = (removed: string[]): AuditFields | null =>
  (removed.length === 0 ? null : { target: removed.join(', '), details: { removed } });

export const pruneFields = (r: PruneResult): AuditFields | null =>
  (r.dryRun || (r.removed.length === 0 && r.skipped.length === 0) ? null : {
    target: r.removed.map((v) => v.name).join(', ') || undefined, result: r.skipped.length > 0 ? 'partial' : 'ok',
    details: { removed: r.removed.map((v) => v.name), reclaimed_bytes: r.reclaimedBytes, kept: r.skipped },
  });

export const orphansFields = (o: Orphans): AuditFields | null =>
  (!o.deleted || (o.orphans.length === 0 && o.skipped.length === 0) ? null : {
    target: o.orphans.map((v) => v.name).join(', ') || undefined, result: o.skipped.length > 0 ? 'partial' : 'ok',
    details: { removed: o.orphans.map((v) => v.name), kept: o.skipped },
  });

export const backupFields = (r: BackupResult): AuditFields =>
  ({ details: { output: r.output, files: r.files, data_bytes: r.dataBytes, archive_bytes: r.archiveBytes, live: r.live, stopped: r.stopped } });

export const restoreFields = (file: string) => (r: RestoreResult): AuditFields =>
  ({ details: { file, created: r.created, files: r.files, data_bytes: r.dataBytes, from: r.from } });

/** The digest niso shows everywhere (`secret inspect`, plans); the value never leaves the store. */
export const secretFields = (m: SecretMeta): AuditFields => ({ details: { digest: m.digest, size: m.size } });

export const removedSecretsFields = (removed: (SecretMeta | { name: string })[]): AuditFields =>
  ({ details: { removed: removed.map((m) => ('digest' in m ? { name: m.name, digest: m.digest } : { name: m.name })) } });

export const gcFields = (r: GcResult): AuditFields | null =>
  (r.dryRun ? null : { details: { freed_bytes: r.freedBytes, freed_files: r.freedFiles, swept: r.sweptTmp.length } });
