// `niso install FILE.niso` under a trust policy with a `file:` scope: the FILE.niso.sig beside it must be a trusted
// signature of this very file. Without such a scope a local file is installed as before: whoever copies a file onto
// the host already decides what it is.
import { NisoError } from '../../errors/niso-error.js';
import type { PackageHead } from '../../package/read-package.js';
import { LOCAL_SCOPE, decide } from '../policy.js';
import { verifyEnvelope } from '../signature.js';
import { checkStatement } from '../verify.js';
import { packageArtifact } from '../manifest.js';
import { readPolicy } from './config.js';
import { describePackageFile, readSignatureFile, signatureFile } from './sign.js';
import type { Verification } from './pull.js';

export async function verifyLocalPackage(root: string, file: string, skip: boolean): Promise<{ verification: Verification; checkHead?: (h: PackageHead) => void }> {
  const policy = await readPolicy(root);
  if (!policy) return { verification: { status: 'no-policy', scope: null } };
  const d = decide(policy, LOCAL_SCOPE);
  if (skip) return { verification: { status: 'skipped', scope: d.scope } };
  if (d.require === 'reject') throw new NisoError('NISO7039', `${file}: the trust policy rejects local package files (scope "${LOCAL_SCOPE}")`, { hint: 'pull packages from a registry the policy trusts instead' });
  if (d.require === 'insecure-accept-unsigned') return { verification: { status: 'not-required', scope: d.scope } };
  const sig = await readSignatureFile(file);
  if (!sig) {
    throw new NisoError('NISO7031', `${file} is not signed (no ${signatureFile(file)}), and the trust policy requires a signature for local files (scope "${LOCAL_SCOPE}")`, {
      hint: 'copy the .sig that `niso pack` wrote beside the package, or `niso pull` it from a registry',
    });
  }
  const where = signatureFile(file);
  const v = verifyEnvelope(sig, d.keys, where);
  if ('untrusted' in v) {
    throw new NisoError('NISO7033', `${file} is signed only by keys the trust policy does not trust for local files: ${v.untrusted.join(', ')}`, { hint: `trusted: ${d.keys.map((k) => k.keyid).join(', ')}; \`niso trust add ${LOCAL_SCOPE} KEY.pub\` adds one` });
  }
  const described = await describePackageFile(file);
  const manifest = JSON.parse(described.manifest.bytes.toString('utf8'));
  checkStatement(v.statement, { manifestDigest: described.manifest.digest, repository: v.statement.name, tag: null, artifact: packageArtifact(manifest, file), identity: 'any' }, file);
  const expected = v.statement.packageId;
  return {
    verification: { status: 'verified', scope: d.scope, keyid: v.keyid, signatures: 1 },
    // The file is read again by the install: it must still be the package that was verified.
    checkHead: (h) => {
      if (`sha256:${h.digestHex}` !== expected) throw new NisoError('NISO7042', `${file} changed while it was installed: it is now sha256:${h.digestHex}, the signature names ${expected}`);
    },
  };
}
