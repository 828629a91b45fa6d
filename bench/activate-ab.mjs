// Times `niso activate NAME -p … --wait [EXTRA]` of two builds of niso in the same rounds (rotating order), each against
// its own NISO_ROOT with the template node app installed as "svc": the first HTTP 200 on the mapped port and the
// command's return. Usage: AB_EXTRA='--settle 0s' node bench/activate-ab.mjs ROUNDS LABEL=BIN=ROOT LABEL=BIN=ROOT
// (ROOTs must be reachable by the services' uids). Prints medians; bench/results/services.md records a run.
import { spawn } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
const [,, rounds, ...variants] = process.argv; // variants: label=bin=root
const vs = variants.map((v) => { const [label, bin, root] = v.split('='); return { label, bin, root, first: [], ret: [] }; });
const get = (port) => new Promise((res) => { const r = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (s) => { s.resume(); res(s.statusCode); }); r.on('error', () => res(0)); r.setTimeout(50, () => { r.destroy(); res(0); }); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let port = 41700;
for (let i = 0; i < Number(rounds) + 1; i++) {
  for (let k = 0; k < vs.length; k++) {
    const v = vs[(i + k) % vs.length];
    const env = { ...process.env, NISO_ROOT: v.root }; delete env.NODE_EXTRA_CA_CERTS;
    port++;
    const t0 = performance.now();
    const child = spawn('node', [v.bin, 'activate', 'svc', '--name', 'ab', '-p', `127.0.0.1:${port}:3000`, '--wait', ...(process.env.AB_EXTRA ? process.env.AB_EXTRA.split(' ') : [])], { env, stdio: 'ignore' });
    let ret = null; child.on('exit', () => { ret = performance.now() - t0; });
    let first = null;
    while (first === null && performance.now() - t0 < 10000) { if (await get(port) === 200) first = performance.now() - t0; else await sleep(1); }
    while (ret === null) await sleep(1);
    if (i > 0) { v.first.push(first); v.ret.push(ret); }
    spawnSync('node', [v.bin, 'deactivate', 'ab'], { env, stdio: 'ignore' });
    spawnSync('node', [v.bin, 'remove', 'ab'], { env, stdio: 'ignore' });
  }
}
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor((s.length - 1) / 2)]; };
for (const v of vs) console.log(`${v.label}: first 200 ${med(v.first).toFixed(0)} ms, --wait returned ${med(v.ret).toFixed(0)} ms, gap median ${med(v.ret.map((r, i) => r - v.first[i])).toFixed(0)} ms (n=${v.first.length})`);
