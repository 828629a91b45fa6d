// The framing check on real zstd output: every kind of block and frame zstd writes passes, in
// chunks of any size; a cut anywhere inside a frame is reported as truncated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { ZstdFrameChecker, ZstdFramingError } from '../../src/package/format/zstd-frames.js';

function zstd(data: Buffer, args: string[] = []): Buffer {
  const r = spawnSync('zstd', ['-q', '-c', ...args], { input: data, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, String(r.stderr));
  return r.stdout;
}

function check(bytes: Buffer, chunk: number): void {
  const c = new ZstdFrameChecker();
  for (let off = 0; off < bytes.length; off += chunk) c.push(bytes.subarray(off, off + chunk));
  c.end();
}

const text = Buffer.from('module.exports = require("./lib");\n'.repeat(20_000));
const streams: [string, Buffer][] = [
  ['compressed blocks with a checksum', zstd(text)],
  ['raw blocks (incompressible data)', zstd(randomBytes(300_000))],
  ['RLE blocks (zeros)', zstd(Buffer.alloc(1_000_000))],
  ['no checksum, level 19', zstd(text, ['--no-check', '-19'])],
  ['an empty frame', zstd(Buffer.alloc(0))],
  ['multi-threaded, long mode', zstd(Buffer.concat([text, randomBytes(200_000), text]), ['-T2', '--long'])],
  ['two frames back to back (how pack writes a package)', Buffer.concat([zstd(Buffer.from('head')), zstd(text)])],
];

for (const [name, bytes] of streams) {
  test(`zstd framing accepted: ${name}`, () => {
    for (const chunk of [1, 3, 4096, 65536, bytes.length]) check(bytes, chunk);
  });
}

test('a cut anywhere inside a frame is truncated; a cut between frames is not', () => {
  const one = zstd(Buffer.from('hello '.repeat(300)));
  for (let cut = 1; cut < one.length; cut++) {
    assert.throws(() => check(one.subarray(0, cut), 5), (e: unknown) => e instanceof ZstdFramingError && e.problem === 'truncated', `cut at ${cut}`);
  }
  check(Buffer.concat([one, one]), 7);
  assert.throws(() => check(Buffer.alloc(0), 1), (e: unknown) => e instanceof ZstdFramingError && e.problem === 'empty');
});
