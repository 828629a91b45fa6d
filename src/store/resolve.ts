// Which installed package a user's reference names (NAME, NAME:VERSION, or a digest prefix as in
// `docker image ls`). Light on imports: `niso run NAME` resolves through it on every start.
import { NisoError } from '../errors/niso-error.js';
import { listInstalled, type InstalledPackage } from './installed.js';

export function parseRef(ref: string): { name: string; version?: string } {
  const i = ref.indexOf(':');
  return i < 0 ? { name: ref } : { name: ref.slice(0, i), version: ref.slice(i + 1) };
}

/** All installed packages a reference matches (several when a bare NAME has several versions). */
export function matchRef(all: InstalledPackage[], ref: string): InstalledPackage[] {
  const digest = /^(?:sha256:)?([0-9a-f]{6,64})$/.exec(ref);
  if (ref.startsWith('sha256:') && digest) return all.filter((p) => p.digest.slice(7).startsWith(digest[1]!));
  const { name, version } = parseRef(ref);
  const byName = all.filter((p) => p.name === name && (version === undefined || p.version === version));
  if (byName.length > 0 || !digest) return byName;
  return all.filter((p) => p.digest.slice(7).startsWith(digest[1]!));
}

export async function resolveOne(root: string, ref: string): Promise<InstalledPackage> {
  const all = await listInstalled(root);
  const hits = matchRef(all, ref);
  if (hits.length === 0) {
    const { name } = parseRef(ref);
    const versions = all.filter((p) => p.name === name).map((p) => p.version);
    throw new NisoError('NISO2201', `no installed package matches "${ref}"`, {
      exitCode: 1,
      hint: versions.length ? `installed versions of ${name}: ${versions.join(', ')}` : 'see `niso list`, or install it with `niso install FILE.niso`',
    });
  }
  if (hits.length > 1) {
    const { name, version } = parseRef(ref);
    // A bare NAME means the newest version, as `docker run image` means :latest; NAME:VERSION
    // with several builds means the newest install (`niso install --replace` keeps an older
    // build only while a service uses it).
    if (hits.every((h) => h.name === name && (version === undefined || h.version === version))) return hits[0]!;
    throw new NisoError('NISO2202', `"${ref}" matches ${hits.length} packages: ${hits.map((h) => `${h.name}:${h.version} (${shortDigest(h.digest)})`).join(', ')}`, { exitCode: 2, hint: whichOne(hits) });
  }
  return hits[0]!;
}

/** sha256: and 12 hex digits, as `docker image ls` shows an image ID. */
export const shortDigest = (digest: string) => digest.slice(0, 19);

/** How to name one of several packages: NAME:VERSION where that is unique, else its digest. */
export function whichOne(hits: InstalledPackage[]): string {
  const key = (h: InstalledPackage) => `${h.name}:${h.version}`;
  const refs = hits.map((h) => (hits.filter((o) => key(o) === key(h)).length > 1 ? shortDigest(h.digest) : key(h)));
  return `name one of them: ${refs.join(', ')}`;
}

