// One sha256 for many small buffers: crypto.hash() (node >= 20.12) digests in one native call, where a Hash object
// per file costs an allocation and three calls; packs and installs hash tens of thousands of files.
import * as crypto from 'node:crypto';

type OneShot = (algorithm: string, data: Uint8Array, encoding: 'hex') => string;
const oneShot = (crypto as unknown as { hash?: OneShot }).hash;

export function sha256Hex(data: Uint8Array): string {
  return oneShot ? oneShot('sha256', data, 'hex') : crypto.createHash('sha256').update(data).digest('hex');
}
