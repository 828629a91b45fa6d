// The typecheck and the lint of `npm test`, both at once (each is mostly one busy core, and the machine has two),
// each one's output printed whole when it ends. Fails when either fails.
import { spawn } from 'node:child_process';

const checks = [['typecheck', 'tsc', ['--noEmit']], ['lint', 'eslint', ['.']]];

const results = await Promise.all(checks.map(([name, bin, args]) => new Promise((resolve) => {
  const t0 = Date.now();
  const child = spawn(process.execPath, [`node_modules/.bin/${bin}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  child.on('error', (e) => { out += String(e); });
  child.on('close', (code) => {
    process.stdout.write(`${out}${out && !out.endsWith('\n') ? '\n' : ''}${name} (${bin} ${args.join(' ')}): ${code === 0 ? 'ok' : `failed (${code})`} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    resolve(code === 0);
  });
})));
process.exit(results.every(Boolean) ? 0 : 1);
