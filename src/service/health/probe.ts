// Runs one health probe inside the service's network namespace with the host's curl and bash, under a timeout that holds even when a tool hangs.
import { spawn } from 'node:child_process';
import type { HealthProbe } from '../../plan/plan.js';
import { NisoError } from '../../errors/niso-error.js';
import { describeHttp, describeTcp, formatSeconds, CURL_WRITE_OUT, type ToolOutcome, type Verdict } from './messages.js';
import type { ProbeResult } from './state.js';

/** Runs a command inside the service's sandbox (`niso exec`); must give up after timeoutMs itself. */
export type ExecInSandbox = (argv: string[], timeoutMs: number) => Promise<{ exitCode: number; output: string }>;

export interface ProbeTarget {
  /** The app's network namespace (/proc/PID/ns/net, /run/netns/NAME); null: the host's network. */
  netns: string | null;
  exec?: ExecInSandbox;
}

/**
 * Grace after the probe's timeout before niso kills the tool itself: curl's own --max-time fires
 * first and says more (connected or not), the kill is for a tool that hangs anyway. A probe
 * therefore takes at most timeout + KILL_GRACE_MS.
 */
export const KILL_GRACE_MS = 200;

// Probes get a fixed environment: no proxy variables, no ~/.curlrc (curl -q), English messages.
const PROBE_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };
const STDOUT_KEEP = 2048;
const STDERR_HEAD = 16_384;
const STDERR_TAIL = 2048;

/** Runs one probe. Never rejects: a probe that cannot run is a failed probe whose output says why. */
export async function runProbe(probe: HealthProbe, target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  const startedAt = Date.now();
  const t0 = performance.now();
  let verdict: Verdict & { exitCode?: number };
  try {
    verdict = await verdictOf(probe, target, timeoutMs);
  } catch (e) {
    verdict = { ok: false, output: `the probe could not run: ${e instanceof Error ? e.message : String(e)}` };
  }
  return { at: new Date(startedAt).toISOString(), ...verdict, durationMs: Math.round(performance.now() - t0) };
}

/** The host tools a probe needs, for checking them once before a service starts (checkProbeTools). */
export function probeTools(probe: HealthProbe, netns: string | null): string[] {
  const own = probe.kind === 'http' ? ['curl'] : probe.kind === 'tcp' ? ['bash'] : [];
  return own.length > 0 && netns !== null ? ['nsenter', ...own] : own;
}

/** Throws NISO2901 naming the first missing tool, so a missing curl is an error at activation and not a restart loop. */
export async function checkProbeTools(probe: HealthProbe, netns: string | null): Promise<void> {
  for (const tool of probeTools(probe, netns)) {
    const r = await runTool([tool, '--version'], 5000);
    if (r.spawnError?.code === 'ENOENT' || r.code === 127) {
      const pkg = tool === 'nsenter' ? 'util-linux' : tool;
      throw new NisoError('NISO2901', `the host tool "${tool}" is not installed or not on PATH; ${probe.kind} health checks need it`, { hint: `install it: apt-get install ${pkg}` });
    }
  }
}

async function verdictOf(probe: HealthProbe, target: ProbeTarget, timeoutMs: number): Promise<Verdict & { exitCode?: number }> {
  switch (probe.kind) {
    case 'http': {
      const argv = ['curl', '-q', '-sS', '-v', '-A', 'niso-healthcheck', '--noproxy', '*', '--max-time', String(timeoutMs / 1000),
        '-o', '-', '-w', CURL_WRITE_OUT, '--url', probe.url];
      const t = await runInNet(target.netns, argv, timeoutMs);
      return describeHttp(probe.url, timeoutMs, t);
    }
    case 'tcp': {
      // bash's /dev/tcp is one connect(2) (IPv4, IPv6 and names through getaddrinfo) and nothing
      // else; curl's telnet:// would wait for the peer after connecting. Host and port are
      // arguments, never part of the script.
      const argv = ['bash', '-c', 'exec 3<>"/dev/tcp/$0/$1"', probe.host, String(probe.port)];
      const t = await runInNet(target.netns, argv, timeoutMs);
      return describeTcp(probe.host, probe.port, timeoutMs, t);
    }
    case 'exec':
      return execVerdict(probe.argv, target.exec, timeoutMs);
  }
}

async function execVerdict(argv: string[], exec: ExecInSandbox | undefined, timeoutMs: number): Promise<Verdict & { exitCode?: number }> {
  if (exec === undefined) return { ok: false, output: `exec probe not run: this niso cannot run commands inside the service's sandbox (${argv.join(' ')})` };
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((res) => { timer = setTimeout(() => res(null), timeoutMs + KILL_GRACE_MS); });
  try {
    const r = await Promise.race([exec(argv, timeoutMs), late]);
    if (r === null) return { ok: false, output: `no answer within ${formatSeconds(timeoutMs)} from ${argv.join(' ')}` };
    const out = r.output.trim();
    return { ok: r.exitCode === 0, output: out !== '' ? out : `${argv[0] ?? 'command'} exited with code ${r.exitCode}`, exitCode: r.exitCode };
  } catch (e) {
    return { ok: false, output: `${argv.join(' ')} could not run: ${e instanceof Error ? e.message : String(e)}` };
  } finally {
    clearTimeout(timer);
  }
}

async function runInNet(netns: string | null, argv: string[], timeoutMs: number): Promise<ToolOutcome> {
  const full = netns === null ? argv : ['nsenter', `--net=${netns}`, '--', ...argv];
  const r = await runTool(full, timeoutMs + KILL_GRACE_MS);
  if (r.spawnError) {
    const msg = r.spawnError.code === 'ENOENT' ? `nsenter: failed to execute ${full[0]}: No such file or directory` : `nsenter: ${r.spawnError.message}`;
    return { code: null, killed: false, stdout: '', stderr: msg };
  }
  return r;
}

interface ToolRun extends ToolOutcome { spawnError?: NodeJS.ErrnoException }

/** Spawns a tool in its own process group and kills the whole group once killAfterMs passed. */
function runTool(argv: string[], killAfterMs: number): Promise<ToolRun> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: PROBE_ENV });
    let stdout = '';
    let errHead = '';
    let errTail = '';
    let done = false;
    const finish = (r: ToolRun) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { if (stdout.length < STDOUT_KEEP) stdout += d.slice(0, STDOUT_KEEP - stdout.length); });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (errHead.length < STDERR_HEAD) errHead += d.slice(0, STDERR_HEAD - errHead.length);
      // The write-out line comes last, so the end is kept too.
      errTail = (errTail + d).slice(-STDERR_TAIL);
    });
    const stderr = () => (errHead.length < STDERR_HEAD ? errHead : `${errHead}\n${errTail}`);
    const timer = setTimeout(() => {
      if (child.pid !== undefined) { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ } }
      child.stdout!.destroy();
      child.stderr!.destroy();
      finish({ code: null, killed: true, stdout, stderr: stderr() });
    }, killAfterMs);
    child.on('error', (e: NodeJS.ErrnoException) => finish({ code: null, killed: false, stdout, stderr: stderr(), spawnError: e }));
    child.on('close', (code) => finish({ code, killed: false, stdout, stderr: stderr() }));
  });
}
