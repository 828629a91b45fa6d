// Edge cases of the small value languages in manifests (durations, sizes, port mappings), as tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, formatSize, isIpAddress, parseDuration, parsePortMapping, parseSize, type PortMapping } from '../../src/manifest/units.js';

test('parseDuration accepts', () => {
  const cases: [string, number][] = [
    ['0s', 0],
    ['500ms', 500],
    ['1s', 1000],
    ['30s', 30_000],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['2h30m', 9_000_000],
    ['1m1s1ms', 61_001],
    ['1.5s', 1500],
    ['0.5ms', 1], // rounded to whole milliseconds
    [' 10s ', 10_000], // surrounding space is trimmed
    ['365d', 365 * 86_400_000],
    ['1s1s', 2000], // repeated units add up
  ];
  for (const [text, ms] of cases) {
    const r = parseDuration(text);
    assert.deepEqual(r, { ok: true, value: ms }, text);
  }
});

test('parseDuration refuses', () => {
  const cases: [string, string][] = [
    ['', 'empty duration'],
    ['   ', 'empty duration'],
    ['30', '"30" has no unit'],
    ['1.5', '"1.5" has no unit'],
    ['5 minutes', 'is not a duration'],
    ['10 s', 'is not a duration'],
    ['-1s', 'is not a duration'],
    ['1S', 'is not a duration'], // units are lower-case, as in systemd and Go
    ['1w', 'is not a duration'],
    ['s', 'is not a duration'],
    ['1m30', 'is not a duration'],
    ['.5s', 'is not a duration'],
    ['366d', 'longer than a year'],
    ['1e3s', 'is not a duration'],
  ];
  for (const [text, why] of cases) {
    const r = parseDuration(text);
    assert.equal(r.ok, false, text);
    if (r.ok) continue;
    assert.equal(r.code, 'NISO1301', text);
    assert.ok(r.message.includes(why), `${text}: ${r.message}`);
    assert.ok(r.hint.length > 0);
  }
});

test('parseSize accepts', () => {
  const K = 1024;
  const cases: [string | number, number][] = [
    [0, 0],
    [1048576, 1048576],
    ['0', 0],
    ['100', 100],
    ['100b', 100],
    ['1k', K],
    ['1K', K],
    ['64k', 64 * K],
    ['1KB', K],
    ['1KiB', K],
    ['512M', 512 * K * K],
    ['512MB', 512 * K * K],
    ['512mib', 512 * K * K],
    ['1G', K ** 3],
    ['1.5GiB', 1.5 * K ** 3],
    ['2T', 2 * K ** 4],
    [' 8 M ', 8 * K * K],
    ['0.5k', 512],
    ['1.0001k', 1024], // fractional bytes round down
  ];
  for (const [input, bytes] of cases) {
    assert.deepEqual(parseSize(input), { ok: true, value: bytes }, String(input));
  }
});

test('parseSize refuses', () => {
  const cases: [string | number, string][] = [
    [-1, 'is negative'],
    [1.5, 'not a whole number of bytes'],
    ['', 'is not a size'],
    ['M', 'is not a size'],
    ['512X', 'is not a size'],
    ['-5M', 'is not a size'],
    ['1,5G', 'is not a size'],
    ['1P', 'is not a size'],
    ['1e3', 'is not a size'],
    ['lots', 'is not a size'],
    ['99999999T', 'is too large'],
  ];
  for (const [input, why] of cases) {
    const r = parseSize(input);
    assert.equal(r.ok, false, String(input));
    if (r.ok) continue;
    assert.equal(r.code, 'NISO1302');
    assert.ok(r.message.includes(why), `${input}: ${r.message}`);
  }
});

const map = (hostIp: string | null, h: [number, number], c: [number, number], protocol: 'tcp' | 'udp' = 'tcp'): PortMapping =>
  ({ hostIp, host: { from: h[0], to: h[1] }, container: { from: c[0], to: c[1] }, protocol });

test('parsePortMapping accepts', () => {
  const cases: [string, PortMapping][] = [
    ['8080:3000', map(null, [8080, 8080], [3000, 3000])],
    ['1:1', map(null, [1, 1], [1, 1])],
    ['65535:65535', map(null, [65535, 65535], [65535, 65535])],
    ['8080:3000/tcp', map(null, [8080, 8080], [3000, 3000])],
    ['5353:53/udp', map(null, [5353, 5353], [53, 53], 'udp')],
    ['5353:53/UDP', map(null, [5353, 5353], [53, 53], 'udp')],
    ['127.0.0.1:8080:3000', map('127.0.0.1', [8080, 8080], [3000, 3000])],
    ['0.0.0.0:80:8080', map('0.0.0.0', [80, 80], [8080, 8080])],
    ['[::1]:8080:3000', map('::1', [8080, 8080], [3000, 3000])],
    ['[::]:8080:3000/udp', map('::', [8080, 8080], [3000, 3000], 'udp')],
    ['[2001:DB8::1]:443:8443', map('2001:db8::1', [443, 443], [8443, 8443])], // IPv6 is lower-cased
    ['[::ffff:10.0.0.1]:80:80', map('::ffff:10.0.0.1', [80, 80], [80, 80])],
    ['9000-9010:9000-9010', map(null, [9000, 9010], [9000, 9010])],
    ['9000-9010:19000-19010/udp', map(null, [9000, 9010], [19000, 19010], 'udp')],
    ['10.1.2.3:7000-7001:8000-8001', map('10.1.2.3', [7000, 7001], [8000, 8001])],
    ['80-80:80', map(null, [80, 80], [80, 80])], // a one-port range equals a port
    [' 80:80 ', map(null, [80, 80], [80, 80])],
  ];
  for (const [text, expected] of cases) {
    assert.deepEqual(parsePortMapping(text), { ok: true, value: expected }, text);
  }
});

test('parsePortMapping refuses', () => {
  const cases: [string, string, string][] = [
    ['', 'NISO1201', 'empty port mapping'],
    ['  ', 'NISO1201', 'empty port mapping'],
    ['8080', 'NISO1201', 'names only one port'],
    ['80:80x', 'NISO1201', 'container port "80x" is not a number or range'],
    ['x:80', 'NISO1201', 'host port "x" is not a number or range'],
    [':80', 'NISO1201', 'host port "" is not a number or range'],
    ['80:', 'NISO1201', 'container port "" is not a number or range'],
    ['80:80/sctp', 'NISO1201', 'unknown protocol "sctp"'],
    ['80:80/', 'NISO1201', 'unknown protocol ""'],
    ['a:b:c:d', 'NISO1201', 'is not a port mapping'],
    ['::1:8080:3000', 'NISO1201', 'is not a port mapping'], // IPv6 needs brackets
    ['300.1.1.1:80:80', 'NISO1201', '"300.1.1.1" is not an IP address'],
    ['localhost:80:80', 'NISO1201', '"localhost" is not an IP address'],
    ['[1.2.3]:80:80', 'NISO1201', '"1.2.3" is not an IP address'],
    ['[::1::2]:80:80', 'NISO1201', '"::1::2" is not an IP address'],
    ['0:80', 'NISO1202', 'host port 0 is outside 1-65535'],
    ['70000:80', 'NISO1202', 'host port 70000 is outside 1-65535'],
    ['80:65536', 'NISO1202', 'container port 65536 is outside 1-65535'],
    ['123456:80', 'NISO1201', 'not a number or range'], // more than five digits is no port
    ['9010-9000:9010-9000', 'NISO1202', 'host port range 9010-9000 runs backwards'],
    ['9000-9010:9000-9005', 'NISO1201', 'the host side has 11 ports but the container side has 6 ports'],
    ['7000:7000-7001', 'NISO1201', 'the host side has 1 port but the container side has 2 ports'],
    ['1-2-3:1', 'NISO1201', 'not a number or range'],
  ];
  for (const [text, code, why] of cases) {
    const r = parsePortMapping(text);
    assert.equal(r.ok, false, text);
    if (r.ok) continue;
    assert.equal(r.code, code, `${text}: ${r.message}`);
    assert.ok(r.message.includes(why), `${text}: ${r.message}`);
    assert.ok(r.hint.length > 0);
  }
});

test('isIpAddress', () => {
  const cases: [string, boolean][] = [
    ['127.0.0.1', true], ['0.0.0.0', true], ['255.255.255.255', true], ['256.0.0.1', false], ['1.2.3', false],
    ['01.2.3.4', false], ['::', true], ['::1', true], ['fe80::1', true], ['1::2::3', false], ['localhost', false], ['', false],
  ];
  for (const [s, ok] of cases) assert.equal(isIpAddress(s), ok, s);
});

test('formatDuration and formatSize', () => {
  const durations: [number, string][] = [[0, '0s'], [500, '500ms'], [1000, '1s'], [90_000, '90s'], [60_000, '1m'], [3_600_000, '1h'], [1500, '1500ms']];
  for (const [ms, text] of durations) assert.equal(formatDuration(ms), text);
  for (const [ms] of durations) assert.deepEqual(parseDuration(formatDuration(ms)), { ok: true, value: ms }, 'formatDuration round-trips');
  const sizes: [number, string][] = [[0, '0 B'], [1023, '1023 B'], [1024, '1.00 KiB'], [1536, '1.50 KiB'], [64 * 1024 * 1024, '64.0 MiB'], [1024 ** 4, '1.00 TiB']];
  for (const [b, text] of sizes) assert.equal(formatSize(b), text);
});
