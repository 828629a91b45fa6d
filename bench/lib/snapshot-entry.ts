// The entry of the start-up snapshot that bench/snapshot.ts builds and measures (issue 17): niso bundled as one
// CommonJS file, run by `node --snapshot-blob B --build-snapshot`, which starts every command from the heap it leaves.
// Only an experiment: the build does not make this snapshot (CONTRIBUTING.md says why).
import { dirname, join } from 'node:path';
import * as v8 from 'node:v8';
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { makeContext } from '../../src/cli/context.js';

// What the snapshot holds beyond main.ts, chosen when it is built: `reads` (the bundle without commander's program;
// the read commands' modules loaded), `all` (status, list, program, run and the service verbs loaded), `warm` (all,
// and `--help` drawn once, so that commander and every declaration have run before the snapshot is taken).
if (v8.startupSnapshot.isBuildingSnapshot()) {
  const kind = process.env.NISO_SNAPSHOT_KIND ?? 'all';
  const loads: Promise<unknown>[] = [import('../../src/cli/commands/status.js'), import('../../src/cli/commands/list.js')];
  if (kind !== 'reads') loads.push(import('../../src/cli/program.js'), import('../../src/cli/commands/run.js'), import('../../src/cli/commands/service.js'));
  void Promise.all(loads).then(async () => {
    if (kind !== 'warm') return;
    const sink = new Writable({ write(_c, _e, cb) { cb(); } });
    const ctx = makeContext('/', {}, sink as unknown as NodeJS.WriteStream, sink as unknown as NodeJS.WriteStream);
    await main(['--help'], ctx);
  });
}

/** The start of a command. */
function start(argv: string[], entry: string): void {
  const ctx = makeContext(process.cwd(), process.env, process.stdout, process.stderr);
  ctx.entry = entry;
  ctx.stdin = () => process.stdin;
  main(argv, ctx).then((code) => { process.exitCode = code; }, (e: unknown) => { process.stderr.write(`${String(e)}\n`); process.exitCode = 1; });
}

if (v8.startupSnapshot.isBuildingSnapshot()) {
  v8.startupSnapshot.setDeserializeMainFunction(() => {
    // Everything of the host is read here, at each start: the blob was made elsewhere and earlier.
    const blob = process.execArgv[process.execArgv.indexOf('--snapshot-blob') + 1]!;
    start(process.argv.slice(1), join(dirname(blob), 'bin/niso'));
  });
} else {
  // The code-cache variant's loader (bench/snapshot.ts) runs the bundle as a script and then calls this. A global,
  // not an export: the snapshot builder runs the bundle with no `module` to export through.
  (globalThis as { nisoBenchStart?: typeof start }).nisoBenchStart = start;
}
