// Per-registry TLS material (issue 16): CA certificates a registry's certificate chains to, and a client certificate
// for registries that ask for one, in /etc/niso/certs.d/HOST[:PORT]/ — the layout Docker (/etc/docker/certs.d) and
// podman (/etc/containers/certs.d) use, so a directory made for them works here as it is (or as a symlink). `*.crt`
// are CA certificates, added to node's own list (and NODE_EXTRA_CA_CERTS'); `NAME.cert` with `NAME.key` is a client
// certificate and its key. Read once per host and process, and only for hosts niso talks HTTPS to.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { NisoError } from '../../errors/niso-error.js';
import { readRegularFile } from '../../host/read-bounded.js';

export const certsDir = (root: string) => join(root, 'etc/niso/certs.d');

/** What node's https.request takes for one host: `ca` replaces node's list, so it carries that list too. */
export interface TlsFiles { ca?: string[]; cert?: string[]; key?: string[] }

const MAX_FILE = 1024 * 1024;
const MAX_FILES = 64;
/** A URL's host as node spells it (no default port): a name, an IPv4 address or a bracketed IPv6 one, and a port. */
const HOST = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*)(?::\d{1,5})?$/;

const invalid = (file: string, what: string, cause?: unknown) => new NisoError('NISO7045', `${file}: ${what}`, {
  path: file, cause,
  hint: 'in /etc/niso/certs.d/HOST[:PORT]/, *.crt files hold PEM CA certificates and NAME.cert with NAME.key a client certificate and its key (the layout of /etc/docker/certs.d); fix or remove the file',
});

/** The PEM certificate blocks of a text (base64 between the markers holds no '-'). */
const pemBlocks = (text: string) => text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];

/** A file's text, at most MAX_FILE bytes, only a regular file (a FIFO named ca.crt does not hold niso up). */
function readBounded(file: string): string {
  let r;
  try { r = readRegularFile(file, MAX_FILE); } catch (e) { throw invalid(file, `cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, e); }
  if (!r.ok) throw invalid(file, `it is ${r.what}, not a file`);
  if (r.bytes.length > MAX_FILE) throw invalid(file, `it is larger than a certificate file is (${MAX_FILE} bytes)`);
  return r.bytes.toString('utf8');
}

/** The PEM certificates of a file, each parsed, so that a broken one is named here rather than by a failed handshake. */
function certificates(file: string): string[] {
  const text = readBounded(file);
  const blocks = pemBlocks(text);
  if (blocks.length === 0) throw invalid(file, 'it holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  for (const [i, b] of blocks.entries()) {
    try { new X509Certificate(b); } catch (e) { throw invalid(file, `certificate ${i + 1} of the file does not parse (${(e as Error).message})`, e); }
  }
  return blocks;
}

function privateKey(file: string): string {
  const text = readBounded(file);
  try { createPrivateKey(text); } catch (e) { throw invalid(file, `it is not a PEM private key niso can read (${(e as Error).message})`, e); }
  return text;
}

/** The CAs node trusts by default, with NODE_EXTRA_CA_CERTS' as node itself adds them at start. */
async function defaultCas(): Promise<string[]> {
  const { rootCertificates } = await import('node:tls');
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  let more: string[] = [];
  if (extra) { try { more = pemBlocks(readFileSync(extra, 'utf8')); } catch { /* node warned at start */ } }
  return [...rootCertificates, ...more];
}

const cache = new Map<string, Promise<TlsFiles | null>>();

/** The TLS files for `host` (`HOST[:PORT]`, as in an https URL), or null when it has no directory of its own. */
export function tlsFilesFor(root: string, host: string): Promise<TlsFiles | null> {
  const key = `${root}\0${host}`;
  let p = cache.get(key);
  if (!p) { p = read(root, host); cache.set(key, p); }
  return p;
}

async function read(root: string, host: string): Promise<TlsFiles | null> {
  if (!HOST.test(host)) return null;
  const dir = join(certsDir(root), host);
  let names: string[];
  try { names = readdirSync(dir).sort(); } catch (e) {
    const c = (e as NodeJS.ErrnoException).code;
    if (c === 'ENOENT' || c === 'ENOTDIR') return null;
    throw invalid(dir, `cannot read the directory: ${c ?? (e as Error).message}`, e);
  }
  const used = names.filter((n) => n.endsWith('.crt') || n.endsWith('.cert') || n.endsWith('.key'));
  if (used.length > MAX_FILES) throw invalid(dir, `it holds ${used.length} certificate and key files, more than ${MAX_FILES}`);
  const out: TlsFiles = {};
  const cas = names.filter((n) => n.endsWith('.crt')).flatMap((n) => certificates(join(dir, n)));
  if (cas.length > 0) out.ca = [...await defaultCas(), ...cas];
  for (const n of names.filter((x) => x.endsWith('.cert'))) {
    const base = n.slice(0, -'.cert'.length);
    if (!names.includes(`${base}.key`)) throw invalid(join(dir, n), `a client certificate needs its key beside it, as ${base}.key`);
    (out.cert ??= []).push(certificates(join(dir, n)).join('\n'));
    (out.key ??= []).push(privateKey(join(dir, `${base}.key`)));
  }
  for (const n of names.filter((x) => x.endsWith('.key'))) {
    if (!names.includes(`${n.slice(0, -'.key'.length)}.cert`)) throw invalid(join(dir, n), `a key needs its client certificate beside it, as ${n.slice(0, -'.key'.length)}.cert`);
  }
  return out.ca || out.cert ? out : null;
}
