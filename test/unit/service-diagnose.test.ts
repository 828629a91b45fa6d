// What `niso debug` suggests (model/diagnose.ts) for outputs as runtimes really print them, and for the limits a
// service's cgroup counted: a refused bind is a privileged-port matter, not a file permission; an OOM kill is said.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessRefusals, diagnose, exitLine, type DiagnoseFacts } from '../../src/service/model/diagnose.js';
import type { ExitRecord } from '../../src/service/model/types.js';

const facts = (f: Partial<DiagnoseFacts>): DiagnoseFacts => ({ plan: null, exits: [], output: '', health: null, live: null, ...f });
const PORT_TIP = /^binding port 80 was refused: ports below 1024 need the capability CAP_NET_BIND_SERVICE, which the sandbox does not grant; listen on a port of 1024 or above and map it, e\.g\. `-p 80:8080`/;
const FILE_TIP = /a file was not accessible to the service's own uid/;

// node 20's uncaught listen error, as its last lines (debug shows the last N, which may cut off the first line).
const NODE_LISTEN = `node:net:1881
    const ex = new ExceptionWithHostPort(rval, 'listen', address, port);
               ^

Error: listen EACCES: permission denied 0.0.0.0:80
    at Server.setupListenHandle [as _listen2] (node:net:1881:21)
    at listenInCluster (node:net:1946:12)
    at Server.listen (node:net:2044:7)
    at Object.<anonymous> (/app/main.js:3:4)
Emitted 'error' event on Server instance at:
    at emitErrorNT (node:net:1925:8)
    at process.processTicksAndRejections (node:internal/process/task_queues:82:21) {
  code: 'EACCES',
  errno: -13,
  syscall: 'listen',
  address: '0.0.0.0',
  port: 80
}

Node.js v20.20.2`;

const binds: [string, string][] = [
  ['node, whole', NODE_LISTEN],
  ['node, only the error object (the first lines cut off)', NODE_LISTEN.split('\n').slice(-8).join('\n')],
  ['Go', 'listen tcp :80: bind: permission denied'],
  ['Python', 'Traceback (most recent call last):\n  File "/app/main.py", line 3, in <module>\n    s.bind(("0.0.0.0", 80))\nPermissionError: [Errno 13] Permission denied'],
  ['nginx', '2026/11/23 10:00:00 [emerg] 1#1: bind() to 0.0.0.0:80 failed (13: Permission denied)'],
];
for (const [runtime, output] of binds) {
  test(`a bind to port 80 refused (${runtime}): the privileged-port tip, not the file one`, () => {
    const tips = diagnose(facts({ output }));
    assert.ok(tips.some((t) => PORT_TIP.test(t)), tips.join('\n'));
    assert.ok(!tips.some((t) => FILE_TIP.test(t)), tips.join('\n'));
  });
}

test('a refused bind without a port named (Java): the tip for ports below 1024', () => {
  const tips = diagnose(facts({ output: 'Exception in thread "main" java.net.BindException: Permission denied\n\tat java.base/sun.nio.ch.Net.bind0(Native Method)' }));
  assert.ok(tips.some((t) => t.startsWith('binding a port below 1024 was refused')), tips.join('\n'));
});

test('a file refused (node\'s open EACCES with its error object): the file tip only', () => {
  const output = "Error: EACCES: permission denied, open '/etc/app.conf'\n    at Object.openSync (node:fs:573:18)\n{\n  errno: -13,\n  code: 'EACCES',\n  syscall: 'open',\n  path: '/etc/app.conf'\n}";
  assert.deepEqual(accessRefusals(output), { binds: [], files: 2 });
  const tips = diagnose(facts({ output }));
  assert.ok(tips.some((t) => FILE_TIP.test(t)));
  assert.ok(!tips.some((t) => /binding/.test(t)));
});

const end = (e: Partial<ExitRecord>): ExitRecord => ({ at: '2026-01-01T00:00:02.000Z', exitCode: 137, signal: 'SIGKILL', reason: 'exited', uptimeMs: 2000, message: null, ...e });

test('an OOM kill is said as one, with the memory limit, in the tips and the exit line', () => {
  const tips = diagnose(facts({ exits: [end({ oom: true })], live: null, plan: { limits: { memoryBytes: 64 * 1024 * 1024, pids: null } } as DiagnoseFacts['plan'] }));
  assert.ok(tips.some((t) => t === 'it ran out of memory: the kernel\'s OOM killer ended it at its memory limit (64.0 MiB); raise [resources] memory (or --memory), or find what grows'), tips.join('\n'));
  assert.equal(exitLine(end({ oom: true })), '2026-01-01T00:00:02.000Z  ended: out of memory (the kernel\'s OOM killer, at its memory limit) after 2s');
  // A SIGKILL that was no OOM kill stays a SIGKILL.
  assert.equal(exitLine(end({})), '2026-01-01T00:00:02.000Z  ended by SIGKILL (137) after 2s');
});

test('a service at its pids limit (a fork bomb) is told so, live or from its last run', () => {
  const live = { oomKills: 0, pidsLimitHits: 37, pidsLimit: 24, memoryLimitBytes: null };
  const tip = 'it reached its limit of 24 processes and threads: the kernel refused 37 forks or new threads (EAGAIN), as with a fork bomb or more workers than the limit; raise [resources] pids (or --pids), or find what forks';
  assert.ok(diagnose(facts({ live })).includes(tip));
  const fromExit = diagnose(facts({ exits: [end({ exitCode: 0, signal: null, pidsLimitHits: 1 })], plan: { limits: { memoryBytes: null, pids: 24 } } as DiagnoseFacts['plan'] }));
  assert.ok(fromExit.some((t) => t.startsWith('it reached its limit of 24 processes and threads: the kernel refused 1 fork or new thread (EAGAIN)')), fromExit.join('\n'));
  assert.deepEqual(diagnose(facts({ live: { ...live, pidsLimitHits: 0 } })), []);
});
