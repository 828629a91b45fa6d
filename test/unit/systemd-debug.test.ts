// systemd-analyze's report and systemd's exit statuses, as `niso debug` reads them (service/systemd/debug.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execStatusMeaning, mergeExits, parseSecurity } from '../../src/service/systemd/debug.js';
import type { ExitRecord } from '../../src/service/model/types.js';

// The shape systemd-analyze 252 prints (--json=short, and the last line of the text report).
const JSON_SHORT = JSON.stringify([
  { set: false, name: 'RootDirectory=/RootImage=', json_field: 'RootDirectoryOrRootImage', description: "Service runs within the host's root directory", exposure: '0.1' },
  { set: null, name: 'SupplementaryGroups=', json_field: 'SupplementaryGroups', description: 'Service runs as root, option does not matter', exposure: null },
  { set: true, name: 'NoNewPrivileges=', json_field: 'NoNewPrivileges', description: 'Service processes cannot acquire new privileges', exposure: null },
  { set: false, name: 'User=/DynamicUser=', json_field: 'UserOrDynamicUser', description: 'Service runs as root user', exposure: '0.4' },
  { set: false, name: 'PrivateNetwork=', json_field: 'PrivateNetwork', description: 'Service has access to the host\'s network', exposure: '0.5' },
]);
const TEXT = '✗ UMask=   Files created by service are world-readable by default   0.1\n\n→ Overall exposure level for x.service: 9.0 UNSAFE 😨\n';

test('parseSecurity: the overall rating, and the findings that add to it, largest first', () => {
  const s = parseSecurity(JSON_SHORT, TEXT);
  assert.deepEqual(s, {
    exposure: 9, rating: 'UNSAFE',
    findings: [
      { directive: 'PrivateNetwork=', description: 'Service has access to the host\'s network', exposure: 0.5 },
      { directive: 'User=/DynamicUser=', description: 'Service runs as root user', exposure: 0.4 },
      { directive: 'RootDirectory=/RootImage=', description: "Service runs within the host's root directory", exposure: 0.1 },
    ],
  });
  assert.equal(parseSecurity('not json', TEXT)?.findings.length, 0, 'the rating alone when the JSON is unreadable');
  assert.equal(parseSecurity(JSON_SHORT, 'Failed to load unit'), null);
});

test('execStatusMeaning: systemd\'s own start failures, not the app\'s exit codes', () => {
  assert.equal(execStatusMeaning(217)?.name, 'USER');
  assert.match(execStatusMeaning(226)!.meaning, /mounts/);
  assert.equal(execStatusMeaning(244)?.name, 'systemd 244');
  assert.equal(execStatusMeaning(3), null);
  assert.equal(execStatusMeaning(137), null);
});

test('mergeExits: niso\'s records win over the journal\'s copy of the same exit; oldest first, the last ten', () => {
  const e = (at: string, reason: ExitRecord['reason'], exitCode: number): ExitRecord => ({ at, exitCode, signal: null, reason, uptimeMs: 0, message: null });
  const recorded = [e('2026-01-01T00:00:10.000Z', 'stopped', 143)];
  const journal = [e('2026-01-01T00:00:01.000Z', 'exited', 3), e('2026-01-01T00:00:10.400Z', 'exited', 143)];
  assert.deepEqual(mergeExits(recorded, journal).map((x) => [x.reason, x.exitCode]), [['exited', 3], ['stopped', 143]]);
  const many = Array.from({ length: 15 }, (_, i) => e(new Date(Date.UTC(2026, 0, 1, 0, 0, i * 2)).toISOString(), 'exited', i));
  assert.deepEqual(mergeExits([], many).map((x) => x.exitCode), [5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
});

test('unit timestamps from systemctl show, to the microsecond (us+utc) or whole seconds (unix)', async () => {
  const { unixTimestamp } = await import('../../src/service/systemd/systemctl.js');
  assert.equal(unixTimestamp('Mon 2026-11-23 07:02:27.716141 UTC')?.toISOString(), '2026-11-23T07:02:27.716Z');
  assert.equal(unixTimestamp('Mon 2026-11-23 07:02:27 UTC')?.toISOString(), '2026-11-23T07:02:27.000Z');
  assert.equal(unixTimestamp('@1700000000')?.toISOString(), '2023-11-14T22:13:20.000Z');
  assert.equal(unixTimestamp('n/a'), null);
  assert.equal(unixTimestamp(''), null);
});
