// What a package signature is: a statement that binds name, version, architecture, package id, the .niso file and
// the manifest digest, in a DSSE envelope signed with Ed25519 (node's crypto, no code of our own). Keys travel as
// OpenSSH `ssh-ed25519` lines and are named by their OpenSSH fingerprint, so `ssh-keygen -lf KEY.pub` shows the same id.
import { createHash, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { NisoError } from '../errors/niso-error.js';
import { MT } from './media.js';

export interface Statement {
  name: string;
  version: string;
  arch: string;
  packageId: string;
  file: { digest: string; size: number };
  manifestDigest: string;
  signedAt: string;
}

const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/);
const statementSchema = z.strictObject({
  name: z.string().max(64), version: z.string().max(256), arch: z.string().max(32), packageId: digest,
  file: z.strictObject({ digest, size: z.number().int().min(0) }), manifestDigest: digest, signedAt: z.string().max(64),
});
const envelopeSchema = z.strictObject({
  payloadType: z.string().max(255),
  payload: z.string().max(64 * 1024),
  signatures: z.array(z.strictObject({ keyid: z.string().max(128), sig: z.string().max(1024) })).min(1).max(16),
});
export type Envelope = z.infer<typeof envelopeSchema>;

/** The statement's bytes: fixed key order, so two signers of one package sign the same text but for signedAt. */
export function serializeStatement(s: Statement): string {
  return JSON.stringify({ name: s.name, version: s.version, arch: s.arch, packageId: s.packageId, file: { digest: s.file.digest, size: s.file.size }, manifestDigest: s.manifestDigest, signedAt: s.signedAt });
}

/** DSSE's pre-authentication encoding: what is signed is the payload together with its type. */
export function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType);
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

// --- keys ------------------------------------------------------------------------------------------------------

const sshString = (b: Buffer) => { const len = Buffer.alloc(4); len.writeUInt32BE(b.length); return Buffer.concat([len, b]); };

/** The raw 32 bytes of an Ed25519 public key. */
export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new NisoError('NISO7020', 'not an Ed25519 key', { hint: 'niso signs with Ed25519 keys: `niso key generate`' });
  return Buffer.from(jwk.x, 'base64url');
}

const sshBlob = (raw: Buffer) => Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(raw)]);

/** `SHA256:…`, OpenSSH's fingerprint of the key. */
export function keyId(key: KeyObject): string {
  return `SHA256:${createHash('sha256').update(sshBlob(rawPublicKey(key))).digest('base64').replace(/=+$/, '')}`;
}

/** The public key as one OpenSSH line, the form `niso trust add` and policy.toml take. */
export function publicKeyLine(key: KeyObject, comment = ''): string {
  return `ssh-ed25519 ${sshBlob(rawPublicKey(key)).toString('base64')}${comment ? ` ${comment}` : ''}`;
}

/** Reads an `ssh-ed25519 BASE64 [comment]` line (any other key type is refused with what it is). */
export function parsePublicKeyLine(line: string, where: string): { key: KeyObject; keyid: string; comment: string } {
  const bad = (why: string) => new NisoError('NISO7020', `${where}: not a usable public key: ${why}`, { hint: 'give the .pub file `niso key generate` wrote (one line, "ssh-ed25519 AAAA… comment"), or an OpenSSH ed25519 public key', exitCode: 2 });
  const parts = line.trim().split(/\s+/);
  if (parts[0] !== 'ssh-ed25519' || parts.length < 2) throw bad(parts[0] ? `it starts with "${parts[0].slice(0, 40)}", not ssh-ed25519` : 'it is empty');
  const blob = Buffer.from(parts[1]!, 'base64');
  let off = 0;
  const next = (): Buffer => {
    if (off + 4 > blob.length) throw bad('the key data is truncated');
    const n = blob.readUInt32BE(off);
    off += 4;
    if (off + n > blob.length) throw bad('the key data is truncated');
    const b = blob.subarray(off, off + n);
    off += n;
    return b;
  };
  if (next().toString() !== 'ssh-ed25519') throw bad('the key data is not an ed25519 key');
  const raw = next();
  if (raw.length !== 32 || off !== blob.length) throw bad('the key data is not 32 bytes of an ed25519 key');
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  return { key, keyid: keyId(key), comment: parts.slice(2).join(' ') };
}

// --- envelopes ---------------------------------------------------------------------------------------------------

/** Signs a statement: the envelope's bytes (compact JSON) and the signer's key id. */
export function signStatement(s: Statement, privateKey: KeyObject): { bytes: Buffer; keyid: string } {
  const payload = Buffer.from(serializeStatement(s));
  const pub = createPublicKey(privateKey);
  const sig = cryptoSign(null, pae(MT.statement, payload), privateKey);
  const keyid = keyId(pub);
  const env: Envelope = { payloadType: MT.statement, payload: payload.toString('base64'), signatures: [{ keyid, sig: sig.toString('base64') }] };
  return { bytes: Buffer.from(JSON.stringify(env)), keyid };
}

const malformed = (where: string, why: string) =>
  new NisoError('NISO7040', `${where}: the signature envelope is malformed: ${why}`, { hint: 'the signature was damaged or not written by niso; push the package again with a signature (`niso push` of a signed package)' });

/** The envelope and its statement, read without verifying anything yet. */
export function readEnvelope(bytes: Uint8Array, where: string): { envelope: Envelope; payload: Buffer; statement: Statement } {
  let json: unknown;
  try { json = JSON.parse(Buffer.from(bytes).toString('utf8')); } catch { throw malformed(where, 'not JSON'); }
  const e = envelopeSchema.safeParse(json);
  if (!e.success) throw malformed(where, `${e.error.issues[0]!.path.join('.') || 'envelope'}: ${e.error.issues[0]!.message}`);
  if (e.data.payloadType !== MT.statement) throw malformed(where, `its payload type is ${e.data.payloadType}, not ${MT.statement}`);
  const payload = Buffer.from(e.data.payload, 'base64');
  let sj: unknown;
  try { sj = JSON.parse(payload.toString('utf8')); } catch { throw malformed(where, 'the statement is not JSON'); }
  const s = statementSchema.safeParse(sj);
  if (!s.success) throw malformed(where, `statement ${s.error.issues[0]!.path.join('.')}: ${s.error.issues[0]!.message}`);
  return { envelope: e.data, payload, statement: s.data };
}

export interface TrustedKey { keyid: string; key: KeyObject }

/**
 * Checks an envelope's signatures against trusted keys. A signature by a key that is not trusted is not an error by
 * itself (another signature may be); a trusted key whose signature does not verify is (NISO7032): the statement or
 * the signature was changed.
 */
export function verifyEnvelope(bytes: Uint8Array, trusted: readonly TrustedKey[], where: string): { statement: Statement; keyid: string } | { untrusted: string[] } {
  const { envelope, payload, statement } = readEnvelope(bytes, where);
  const message = pae(envelope.payloadType, payload);
  const untrusted: string[] = [];
  for (const s of envelope.signatures) {
    const k = trusted.find((t) => t.keyid === s.keyid);
    if (!k) { untrusted.push(s.keyid); continue; }
    const sig = Buffer.from(s.sig, 'base64');
    if (sig.length !== 64 || !cryptoVerify(null, message, k.key, sig)) {
      throw new NisoError('NISO7032', `${where}: the signature by ${s.keyid} does not verify: the signed statement or the signature was changed`, {
        hint: 'do not install this package; the registry (or something between it and niso) altered what was signed',
      });
    }
    return { statement, keyid: s.keyid };
  }
  return { untrusted };
}
