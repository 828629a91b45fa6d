// Reads V8 CPU profiles (`node --cpu-prof`) of the built CLI and prints where the main thread's time went: self time by
// original source file (through the bundle's source maps), by function, and inclusive time by function, summed over
// every profile given (bench/cli-cpu.ts's profiles, or any). Usage: node bench/lib/cpuprofile-summary.mjs [--top N] FILE|DIR...
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
let top = 25;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--top') top = Number(args[++i]);
  else if (statSync(args[i]).isDirectory()) files.push(...readdirSync(args[i]).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(args[i], f)));
  else files.push(args[i]);
}

const maps = new Map();
/** The original source file of a profile frame, through the bundle's source map (node's own SourceMap reads it). */
function sourceOf(url, line, col) {
  if (!url) return '(vm)';
  if (!url.startsWith('file:')) return url;
  const path = fileURLToPath(url);
  if (!maps.has(path)) maps.set(path, existsSync(`${path}.map`) ? new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8'))) : null);
  const m = maps.get(path);
  if (!m) return path.replace(/.*\/node_modules\//, 'node_modules/');
  const s = m.findEntry(line, col).originalSource ?? '?';
  return s.replace(/^file:\/\//, '').replace(/^.*?\/(src|node_modules)\//, '$1/').replace(/^(\.\.\/)+/, '');
}

const selfBySource = new Map();
const selfByFn = new Map();
const inclByFn = new Map();
let total = 0;
const add = (m, k, v) => m.set(k, (m.get(k) ?? 0) + v);
for (const f of files) {
  const p = JSON.parse(readFileSync(f, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  // timeDeltas[i] is the time before sample i; it is charged to the sample that ends it.
  for (let i = 0; i < p.samples.length; i++) add(self, p.samples[i], (p.timeDeltas[i + 1] ?? 0) / 1000);
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  for (const [id, ms] of self) {
    const n = byId.get(id);
    const cf = n.callFrame;
    const src = cf.url ? sourceOf(cf.url, cf.lineNumber, cf.columnNumber) : `(${cf.functionName || 'anonymous'})`;
    const fn = `${cf.functionName || '(anonymous)'} ${src}`;
    add(selfBySource, src, ms);
    add(selfByFn, fn, ms);
    total += ms;
    const seen = new Set();
    for (let x = id; x !== undefined; x = parent.get(x)) {
      const xn = byId.get(x).callFrame;
      const k = `${xn.functionName || '(anonymous)'} ${xn.url ? sourceOf(xn.url, xn.lineNumber, xn.columnNumber) : ''}`;
      if (seen.has(k)) continue;
      seen.add(k);
      add(inclByFn, k, ms);
    }
  }
}
const n = files.length;
const show = (title, m) => {
  console.log(`\n## ${title} (ms per profile, ${n} profiles; total ${(total / n).toFixed(1)} ms)`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(v / n).toFixed(1).padStart(8)}  ${k}`);
};
show('self time by source file', selfBySource);
show('self time by function', selfByFn);
show('inclusive time by function', inclByFn);
