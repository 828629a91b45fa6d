// What a verified signature must also say before a pull goes on: that it signs this very manifest, of a package whose
// name fits the repository, whose version is the tag's (no old version retagged as a new one), and whose architecture,
// package id and file are the manifest's. Each mismatch has its own code, so an operator sees which part was forged.
import semver from 'semver';
import { NisoError } from '../errors/niso-error.js';
import type { PackageArtifact } from './manifest.js';
import type { Statement } from './signature.js';

export interface Expected {
  /** The digest of the package manifest that was pulled. */
  manifestDigest: string;
  repository: string;
  /** The tag the user asked for; none when pulled by digest. */
  tag: string | null;
  artifact: PackageArtifact;
  identity: 'repository-name' | 'any';
}

const refuse = (code: string, message: string, hint: string) => new NisoError(code, message, { hint });

/** A tag that reads as a version (`1.2.0`, `v1.2.0`), which the signed version must then equal. */
export function tagVersion(tag: string): string | null {
  const t = tag.startsWith('v') ? tag.slice(1) : tag;
  return semver.valid(t) === t ? t : null;
}

export function checkStatement(s: Statement, e: Expected, where: string): void {
  if (s.manifestDigest !== e.manifestDigest) {
    throw refuse('NISO7034', `${where}: the signature was made for manifest ${s.manifestDigest}, but the registry serves ${e.manifestDigest}`,
      'the manifest was changed after it was signed, or a signature of another package was attached to it; do not install it');
  }
  const last = e.repository.split('/').pop()!;
  if (e.identity === 'repository-name' && s.name !== last) {
    throw refuse('NISO7035', `${where}: the signature is for package "${s.name}", but the repository is ${e.repository} (its name part is "${last}")`,
      `a signed package was copied under another name; if that is intended, set identity = "any" in the policy's scope`);
  }
  const tv = e.tag === null ? null : tagVersion(e.tag);
  if (tv !== null && s.version !== tv) {
    throw refuse('NISO7036', `${where}: tag ${e.tag} holds a package signed as version ${s.version}`,
      'an older (or other) version was tagged as this one, e.g. to roll a fix back; pull the version the tag names by its own tag, and tell the registry\'s owner');
  }
  const a = e.artifact;
  const mismatch: string[] = [];
  if (a.layer.digest !== s.file.digest || a.layer.size !== s.file.size) mismatch.push(`file ${a.layer.digest} (${a.layer.size} bytes) vs signed ${s.file.digest} (${s.file.size} bytes)`);
  if (a.arch !== null && a.arch !== s.arch) mismatch.push(`architecture ${a.arch} vs signed ${s.arch}`);
  if (a.packageId !== null && a.packageId !== s.packageId) mismatch.push(`package id ${a.packageId} vs signed ${s.packageId}`);
  if (a.name !== null && a.name !== s.name) mismatch.push(`name ${a.name} vs signed ${s.name}`);
  if (a.version !== null && a.version !== s.version) mismatch.push(`version ${a.version} vs signed ${s.version}`);
  if (mismatch.length > 0) {
    throw refuse('NISO7037', `${where}: the manifest does not describe the package that was signed: ${mismatch.join('; ')}`, 'do not install it; the registry serves something other than what the signer signed');
  }
}
