// `niso stats` and `niso top` from file texts: cgroup v1 and v2 counters (fixtures, since these
// machines have no v2 controllers), /proc parsing with awkward process names, docker's CPU and
// memory arithmetic, and the tables and JSON a user sees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCgroupV1, parseCgroupV2, parseCmdline, commandLine, parseNetDev, parsePasswd, parseProcIo, parseProcStat, parseProcStatus, parseUptime } from '../../src/service/stats/parse.js';
import { computeStats, statsJson, type CgroupSample, type StatsRow } from '../../src/service/stats/compute.js';
import { formatElapsed, formatIo, formatMemory, formatStatsTable, formatTopTable } from '../../src/service/stats/format.js';
import { processRow } from '../../src/service/stats/top.js';

const MiB = 1024 * 1024;
const V1_UNLIMITED = '9223372036854771712\n';

// A v1 memory.stat as this host writes it (cut), for a cgroup with children: total_* count them.
const V1_MEMORY_STAT = `cache 0
rss 0
inactive_file 4096
active_file 0
hierarchical_memory_limit 9223372036854771712
hierarchical_memsw_limit 9223372036854771712
total_cache 20971520
total_rss 70254592
total_inactive_file 16777216
total_active_file 4194304
`;

// A v2 memory.stat as kernel 6.x writes it (cut; the keys are flat and already hierarchical).
const V2_MEMORY_STAT = `anon 70254592
file 20971520
kernel 1048576
shmem 0
file_mapped 0
inactive_anon 70254592
active_anon 0
inactive_file 16777216
active_file 4194304
unevictable 0
slab 524288
pgfault 12345
`;

const V2_CPU_STAT = `usage_usec 1500000
user_usec 1000000
system_usec 500000
core_sched.force_idle_usec 0
nr_periods 10
nr_throttled 2
throttled_usec 40000
nr_bursts 0
burst_usec 0
`;

test('cgroup v1: usage minus total_inactive_file, an unlimited limit is null, cpuacct in ns', () => {
  const c = parseCgroupV1({
    'memory.usage_in_bytes': `${100 * MiB}\n`,
    'memory.limit_in_bytes': V1_UNLIMITED,
    'memory.stat': V1_MEMORY_STAT,
    'cpuacct.usage': '6377751166602\n',
    'pids.current': '9\n',
    'pids.max': 'max\n',
  });
  assert.deepEqual(c, { cpuUsageNs: 6377751166602, memoryBytes: 100 * MiB - 16 * MiB, memoryLimitBytes: null, pids: 9, pidsLimit: null });
});

test('cgroup v1: the limit is the smaller of the own and the hierarchical one', () => {
  const own = parseCgroupV1({ 'memory.usage_in_bytes': '0\n', 'memory.limit_in_bytes': `${512 * MiB}\n`, 'memory.stat': V1_MEMORY_STAT, 'pids.max': '64\n' });
  assert.equal(own.memoryLimitBytes, 512 * MiB);
  assert.equal(own.pidsLimit, 64);
  const parent = parseCgroupV1({ 'memory.usage_in_bytes': '0\n', 'memory.limit_in_bytes': V1_UNLIMITED, 'memory.stat': V1_MEMORY_STAT.replace(/^hierarchical_memory_limit .*$/m, `hierarchical_memory_limit ${256 * MiB}`) });
  assert.equal(parent.memoryLimitBytes, 256 * MiB);
});

test('cgroup v1: inactive file cache larger than the usage (two reads, not atomic) leaves the usage', () => {
  const c = parseCgroupV1({ 'memory.usage_in_bytes': `${8 * MiB}\n`, 'memory.stat': V1_MEMORY_STAT });
  assert.equal(c.memoryBytes, 8 * MiB);
});

test('cgroup v1: missing files give zeros and nulls (no pids hierarchy: the reader counts processes)', () => {
  assert.deepEqual(parseCgroupV1({}), { cpuUsageNs: 0, memoryBytes: 0, memoryLimitBytes: null, pids: null, pidsLimit: null });
});

test('cgroup v2: memory.current minus inactive_file, memory.max, cpu.stat usage_usec in ns', () => {
  const c = parseCgroupV2({
    'memory.current': `${100 * MiB}\n`,
    'memory.max': `${512 * MiB}\n`,
    'memory.stat': V2_MEMORY_STAT,
    'cpu.stat': V2_CPU_STAT,
    'pids.current': '12\n',
    'pids.max': '32\n',
  });
  assert.deepEqual(c, { cpuUsageNs: 1_500_000_000, memoryBytes: 84 * MiB, memoryLimitBytes: 512 * MiB, pids: 12, pidsLimit: 32 });
});

test('cgroup v2: "max" means no limit', () => {
  const c = parseCgroupV2({ 'memory.current': '4096\n', 'memory.max': 'max\n', 'memory.stat': V2_MEMORY_STAT, 'pids.current': '1\n', 'pids.max': 'max\n' });
  assert.equal(c.memoryLimitBytes, null);
  assert.equal(c.pidsLimit, null);
  assert.equal(c.memoryBytes, 4096);
});

test('/proc/PID/io: read_bytes and write_bytes', () => {
  const io = 'rchar: 6976\nwchar: 1048576\nsyscr: 10\nsyscw: 1\nread_bytes: 8192\nwrite_bytes: 1052672\ncancelled_write_bytes: 4096\n';
  assert.deepEqual(parseProcIo(io), { readBytes: 8192, writeBytes: 1052672 });
});

test('/proc/PID/net/dev: all interfaces but lo, long names touching the colon', () => {
  const dev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 47785911  281229    0    0    0     0          0         0 47785911  281229    0    0    0     0       0          0
  eth0: 1000  10    0    0    0     0          0         0  2000   20    0    0    0     0       0          0
vethabcdef0123:300 3 0 0 0 0 0 0 400 4 0 0 0 0 0 0
`;
  assert.deepEqual(parseNetDev(dev), { rxBytes: 1300, txBytes: 2400 });
  assert.deepEqual(parseNetDev(dev.split('\n').slice(0, 3).join('\n')), { rxBytes: 0, txBytes: 0 }, 'only lo: nothing');
});

test('/proc/PID/stat: names with spaces and parentheses end at the last ")"', () => {
  // Fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  // utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss ...
  const tail = 'S 4242 4242 10387 0 -1 4194304 101 0 0 0 250 50 0 0 20 0 3 0 796345 3133440 361 18446744073709551615 0 0 0';
  for (const comm of ['node', 'my app', 'a) b (c', '(sd-pam)', ') )', '']) {
    const s = parseProcStat(`31337 (${comm}) ${tail}`);
    assert.deepEqual(s, { pid: 31337, comm, state: 'S', ppid: 4242, utimeTicks: 250, stimeTicks: 50, startTicks: 796345 }, comm);
  }
  assert.equal(parseProcStat(''), null);
  assert.equal(parseProcStat('12 (x'), null);
});

test('/proc/PID/status: effective uid, VmRSS in bytes, threads; zombies have no VmRSS', () => {
  const status = 'Name:\tnode\nUmask:\t0022\nState:\tS (sleeping)\nPPid:\t1\nUid:\t60100\t60101\t60100\t60100\nGid:\t60100\t60100\t60100\t60100\nVmRSS:\t   45000 kB\nThreads:\t7\n';
  assert.deepEqual(parseProcStatus(status), { uids: [60100, 60101, 60100, 60100], rssBytes: 45000 * 1024, threads: 7 });
  const zombie = 'Name:\tsh\nState:\tZ (zombie)\nUid:\t0\t0\t0\t0\nThreads:\t1\n';
  assert.deepEqual(parseProcStatus(zombie), { uids: [0, 0, 0, 0], rssBytes: 0, threads: 1 });
  assert.equal(parseProcStatus('Name:\tx\n'), null);
});

test('cmdline: NUL-separated arguments; none → [comm] as ps shows it', () => {
  assert.deepEqual(parseCmdline('node\0-e\0console.log("a b")\0'), ['node', '-e', 'console.log("a b")']);
  assert.equal(commandLine('node\0/app/server.js\0--port\x008080\0', 'node'), 'node /app/server.js --port 8080');
  // A process that rewrote its title (setproctitle) has one argument with spaces and no NUL at the end.
  assert.equal(commandLine('nginx: worker process', 'nginx'), 'nginx: worker process');
  assert.equal(commandLine('', 'a) b'), '[a) b]');
});

test('uptime and passwd', () => {
  assert.equal(parseUptime('7963.46 9367.43\n'), 7963.46);
  const pw = parsePasswd('root:x:0:0:root:/root:/bin/bash\n# comment:x:5\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\nroot2:x:0:0::/:/bin/sh\n');
  assert.deepEqual([...pw], [[0, 'root'], [33, 'www-data']]);
});

test('processRow: ps-style %CPU over the lifetime, elapsed, the given user name, the command line', () => {
  // Started at 1000 s after boot, now 1100 s: 100 s elapsed; 25 s + 5 s of CPU → 30 %.
  const stat = '4711 (node server) S 4700 4700 4700 0 -1 0 0 0 0 0 2500 500 0 0 20 0 7 0 100000 1000 10';
  const status = 'Name:\tnode server\nUid:\t60100\t60100\t60100\t60100\nVmRSS:\t51200 kB\nThreads:\t7\n';
  const row = processRow({ stat, status, cmdline: 'node\0/app/server.js\0' }, 1100, new Map([[60100, 'web']]));
  assert.deepEqual(row, { pid: 4711, ppid: 4700, uid: 60100, user: 'web', cpuPercent: 30, rssBytes: 50 * MiB, threads: 7, elapsedMs: 100_000, command: 'node /app/server.js' });
  assert.equal(processRow({ stat, status, cmdline: '' }, 1100, new Map())?.user, '60100', 'no name: the uid');
  assert.equal(processRow({ stat: 'garbage', status, cmdline: '' }, 1100, new Map()), null);
});

function sample(over: Partial<CgroupSample>): CgroupSample {
  return { atMs: 0, cpuUsageNs: 0, memoryBytes: 0, memoryLimitBytes: null, pids: 1, pidsLimit: null, blockReadBytes: 0, blockWriteBytes: 0, procs: [1], ...over };
}

const HOST = { hostCpus: 4, hostMemoryBytes: 8192 * MiB };

test('computeStats: CPU % is CPU time over wall time, 100 per busy core', () => {
  const prev = sample({ atMs: 1000, cpuUsageNs: 5e9 });
  assert.equal(computeStats(prev, sample({ atMs: 2000, cpuUsageNs: 5.5e9 }), HOST).cpuPercent, 50);
  assert.equal(computeStats(prev, sample({ atMs: 1500, cpuUsageNs: 6e9 }), HOST).cpuPercent, 200, 'two cores over half a second');
  assert.equal(computeStats(prev, sample({ atMs: 2000, cpuUsageNs: 5e9 + 123456789 }), HOST).cpuPercent, 12.35, 'two decimals');
  assert.equal(computeStats(prev, sample({ atMs: 2000, cpuUsageNs: 1e9 }), HOST).cpuPercent, 0, 'a counter that went back');
  assert.equal(computeStats(prev, sample({ atMs: 2000, cpuUsageNs: 50e9 }), HOST).cpuPercent, 400, 'never more than every core');
  assert.equal(computeStats(prev, sample({ atMs: 1000, cpuUsageNs: 6e9 }), HOST).cpuPercent, 0, 'no time passed');
  assert.equal(computeStats(null, sample({ atMs: 2000, cpuUsageNs: 6e9 }), HOST).cpuPercent, null, 'first sample: unknown');
});

test('computeStats: memory % against the limit, or the host when unlimited or larger than the host', () => {
  const limited = computeStats(null, sample({ memoryBytes: 64 * MiB, memoryLimitBytes: 256 * MiB }), HOST);
  assert.equal(limited.memoryLimitBytes, 256 * MiB);
  assert.equal(limited.memoryPercent, 25);
  const unlimited = computeStats(null, sample({ memoryBytes: 1024 * MiB }), HOST);
  assert.equal(unlimited.memoryLimitBytes, 8192 * MiB);
  assert.equal(unlimited.memoryPercent, 12.5);
  assert.equal(computeStats(null, sample({ memoryLimitBytes: 1e15 }), HOST).memoryLimitBytes, 8192 * MiB);
});

test('computeStats: net is null without a namespace of its own, block I/O and pids pass through', () => {
  const s = computeStats(null, { ...sample({ blockReadBytes: 10, blockWriteBytes: 20, pids: 9, pidsLimit: 64 }), net: { rxBytes: 1, txBytes: 2 } }, HOST);
  assert.deepEqual([s.netRxBytes, s.netTxBytes, s.blockReadBytes, s.blockWriteBytes, s.pids, s.pidsLimit], [1, 2, 10, 20, 9, 64]);
  const host = computeStats(null, sample({}), HOST);
  assert.deepEqual([host.netRxBytes, host.netTxBytes], [null, null]);
});

test('computeStats: /state\'s use and bound pass through; null without a bound', () => {
  const s = computeStats(null, { ...sample({}), state: { usedBytes: 5 * MiB, sizeBytes: 60 * MiB, limitBytes: 64 * MiB } }, HOST);
  assert.deepEqual([s.stateUsedBytes, s.stateSizeBytes, s.stateLimitBytes], [5 * MiB, 60 * MiB, 64 * MiB]);
  const unbounded = computeStats(null, { ...sample({}), state: null }, HOST);
  assert.deepEqual([unbounded.stateUsedBytes, unbounded.stateLimitBytes], [null, null]);
});

test('sizes as docker stats prints them', () => {
  const mem: [number, string][] = [[0, '0B'], [1023, '1023B'], [1024, '1KiB'], [12.34 * MiB, '12.34MiB'], [512 * MiB, '512MiB'], [1.5 * 1024 * MiB, '1.5GiB'], [100.123 * MiB, '100.1MiB'], [1023.99 * MiB, '1GiB']];
  for (const [b, s] of mem) assert.equal(formatMemory(b), s, String(b));
  const io: [number, string][] = [[0, '0B'], [999, '999B'], [999.7, '1kB'], [1234, '1.23kB'], [3400, '3.4kB'], [1_000_000, '1MB'], [1_048_576, '1.05MB'], [25_500_000_000, '25.5GB']];
  for (const [b, s] of io) assert.equal(formatIo(b), s, String(b));
});

const ROWS: StatsRow[] = [
  { name: 'web', stats: { cpuPercent: 53.1, memoryBytes: 12.34 * MiB, memoryLimitBytes: 512 * MiB, memoryPercent: 2.41, netRxBytes: 1200, netTxBytes: 3400, blockReadBytes: 0, blockWriteBytes: 1_048_576, pids: 9, pidsLimit: 64, stateUsedBytes: 3.5 * MiB, stateSizeBytes: 9.8 * 1024 * MiB, stateLimitBytes: 10 * 1024 * MiB } },
  { name: 'worker', stats: { cpuPercent: null, memoryBytes: 2048, memoryLimitBytes: 8 * 1024 * MiB, memoryPercent: 0, netRxBytes: null, netTxBytes: null, blockReadBytes: 4096, blockWriteBytes: 0, pids: 1, pidsLimit: null, stateUsedBytes: null, stateSizeBytes: null, stateLimitBytes: null } },
  { name: 'gone', stats: null },
];

test('formatStatsTable: docker stats columns and cells', () => {
  const lines = formatStatsTable(ROWS).trimEnd().split('\n');
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, /^NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS +STATE \/ LIMIT$/);
  assert.deepEqual(lines[1]!.split(/ {2,}/), ['web', '53.10%', '12.34MiB / 512MiB', '2.41%', '1.2kB / 3.4kB', '0B / 1.05MB', '9', '3.5MiB / 10GiB']);
  assert.deepEqual(lines[2]!.split(/ {2,}/), ['worker', '--', '2KiB / 8GiB', '0.00%', '--', '4.1kB / 0B', '1', 'unbounded']);
  assert.deepEqual(lines[3]!.split(/ {2,}/), ['gone', '--', '-- / --', '--', '--', '--', '--', '--']);
  // Columns line up: every cell starts where its header does.
  const col = lines[0]!.indexOf('MEM USAGE');
  for (const l of lines.slice(1)) assert.notEqual(l[col], ' ', l);
});

test('statsJson: flat numbers in bytes, nulls for a service that is not running', () => {
  const j = statsJson(ROWS);
  assert.deepEqual(j[0], { name: 'web', running: true, cpuPercent: 53.1, memoryBytes: 12.34 * MiB, memoryLimitBytes: 512 * MiB, memoryPercent: 2.41, netRxBytes: 1200, netTxBytes: 3400, blockReadBytes: 0, blockWriteBytes: 1_048_576, pids: 9, pidsLimit: 64, stateUsedBytes: 3.5 * MiB, stateSizeBytes: 9.8 * 1024 * MiB, stateLimitBytes: 10 * 1024 * MiB });
  assert.deepEqual(j[2], { name: 'gone', running: false, cpuPercent: null, memoryBytes: null, memoryLimitBytes: null, memoryPercent: null, netRxBytes: null, netTxBytes: null, blockReadBytes: null, blockWriteBytes: null, pids: null, pidsLimit: null, stateUsedBytes: null, stateSizeBytes: null, stateLimitBytes: null });
  assert.deepEqual(JSON.parse(JSON.stringify(j)), j);
});

test('formatElapsed like ps ELAPSED', () => {
  const cases: [number, string][] = [[0, '00:00'], [59_999, '00:59'], [61_000, '01:01'], [3_600_000, '01:00:00'], [90_061_000, '1-01:01:01']];
  for (const [ms, s] of cases) assert.equal(formatElapsed(ms), s);
});

test('formatTopTable: full command lines, host pids, user names', () => {
  const out = formatTopTable([
    { pid: 4700, ppid: 1, uid: 60100, user: 'web', cpuPercent: 0, rssBytes: 2 * MiB, threads: 1, elapsedMs: 3_725_000, command: 'bwrap --unshare-pid --die-with-parent -- node /app/server.js' },
    { pid: 4711, ppid: 4700, uid: 60100, user: 'web', cpuPercent: 30, rssBytes: 50 * MiB, threads: 7, elapsedMs: 3_724_000, command: 'node /app/server.js --title "a b"' },
  ]);
  const lines = out.trimEnd().split('\n');
  assert.match(lines[0]!, /^PID +PPID +USER +%CPU +RSS +ELAPSED +COMMAND$/);
  assert.deepEqual(lines[1]!.split(/ {2,}/), ['4700', '1', 'web', '0.0', '2MiB', '01:02:05', 'bwrap --unshare-pid --die-with-parent -- node /app/server.js']);
  assert.deepEqual(lines[2]!.split(/ {2,}/), ['4711', '4700', 'web', '30.0', '50MiB', '01:02:04', 'node /app/server.js --title "a b"']);
});
