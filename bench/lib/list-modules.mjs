// Preloaded into one untimed `niso run` by bench/run-start.ts (`node --import THIS`): registers an
// ESM load hook that appends the URL and byte size of every module niso loads to
// $NISO_BENCH_MODULES, one JSON line each. The hook runs on node's loader thread, which slows the
// run down, so the bench uses it only to list what is loaded, never to time it. Lines carry the pid,
// so that a CLI and the supervisor it starts can share one file.
import { register } from 'node:module';

const hook = `
import { appendFileSync } from 'node:fs';
const out = process.env.NISO_BENCH_MODULES;
export async function load(url, context, next) {
  const r = await next(url, context);
  if (out && url.startsWith('file:')) {
    const bytes = typeof r.source === 'string' ? Buffer.byteLength(r.source) : r.source ? r.source.byteLength : 0;
    appendFileSync(out, JSON.stringify({ url, bytes, format: r.format, pid: process.pid }) + '\\n');
  }
  return r;
}
`;

if (process.env.NISO_BENCH_MODULES) register(`data:text/javascript,${encodeURIComponent(hook)}`);
