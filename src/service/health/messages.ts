// Turns what curl and bash printed into a verdict and a sentence a user can act on; apart from running them, so it is testable as data. [pure]
import { NisoError } from '../../errors/niso-error.js';
import { formatDuration } from '../../manifest/units.js';

/** What a probe tool left behind. */
export interface ToolOutcome {
  /** Exit code; null when killed. */
  code: number | null;
  /** True when niso killed the tool because the probe's timeout passed. */
  killed: boolean;
  stdout: string;
  stderr: string;
}

export interface Verdict { ok: boolean; output: string }

/** The line curl's --write-out adds at the end of stderr (a response header cannot forge it: those start with "< "). */
export const CURL_WRITE_OUT = '%{stderr}\nniso-probe: %{http_code} %{time_connect}\n';

/** curl -v -sS --write-out CURL_WRITE_OUT, body on stdout: 2xx and 3xx are healthy, redirects are not followed. */
export function describeHttp(url: string, timeoutMs: number, t: ToolOutcome): Verdict {
  const within = formatSeconds(timeoutMs);
  const addr = hostPort(url);
  const entered = enterFailure(t.stderr);
  if (entered !== null) return { ok: false, output: entered };
  const wo = [...t.stderr.matchAll(/^niso-probe: (\d{3}) ([\d.]+)$/gm)].pop();
  const status = wo ? Number(wo[1]) : 0;
  if (status >= 100) {
    const ok = status >= 200 && status < 400;
    const reason = [...t.stderr.matchAll(/^< HTTP\/[\d.]+ \d{3}(?: ([^\r\n]*))?\r?$/gm)].pop()?.[1]?.trim();
    let text = `HTTP ${status}${reason ? ` ${reason}` : ''}`;
    if (status >= 300 && status < 400) {
      const location = [...t.stderr.matchAll(/^< location: ([^\r\n]*)\r?$/gim)].pop()?.[1]?.trim();
      if (location) text += ` → ${location}`;
    }
    const body = t.stdout.replace(/\s+/g, ' ').trim();
    if (body !== '') text += `: ${body}`;
    // A status counts even when the body did not arrive in time: the app did answer.
    return { ok, output: text };
  }
  const connected = wo !== undefined && Number(wo[2]) > 0;
  if (t.killed || t.code === 28) {
    return { ok: false, output: connected ? `no HTTP response within ${within} from ${url} (the connection was accepted)` : `no answer within ${within} from ${addr}` };
  }
  const connectError = (/^\* connect to .* failed: (.+)$/m.exec(t.stderr) ?? /^\* Immediate connect fail for .*: ([^:]+)$/m.exec(t.stderr))?.[1]?.trim();
  const curlError = [...t.stderr.matchAll(/^curl: \((\d+)\) (.*)$/gm)].pop()?.[2]?.trim();
  switch (t.code) {
    case 7: return { ok: false, output: connectFailure(addr, connectError ?? curlError ?? 'could not connect') };
    case 6: return { ok: false, output: `cannot resolve the host of ${url}` };
    case 52: return { ok: false, output: `empty reply from ${addr}: the connection closed without an HTTP response` };
    case 1: case 8:
      if (curlError && /HTTP\/0\.9|weird server reply|unsupported HTTP/i.test(curlError)) return { ok: false, output: `${addr} did not answer in HTTP (${curlError})` };
      break;
    case 56: return { ok: false, output: `connection to ${addr} broke before the response was complete${curlError ? ` (${curlError})` : ''}` };
  }
  return { ok: false, output: curlError ? `${curlError} (${url})` : `curl failed with exit code ${t.code ?? 'unknown'} (${url})` };
}

/** bash -c 'exec 3<>/dev/tcp/HOST/PORT': healthy when the connection opens. */
export function describeTcp(host: string, port: number, timeoutMs: number, t: ToolOutcome): Verdict {
  const addr = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const entered = enterFailure(t.stderr);
  if (entered !== null) return { ok: false, output: entered };
  if (t.killed) return { ok: false, output: `no answer within ${formatSeconds(timeoutMs)} from ${addr}` };
  if (t.code === 0) return { ok: true, output: `connected to ${addr}` };
  const lines = t.stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.some((l) => /name resolution|Name or service not known|not known|No address associated/i.test(l))) {
    return { ok: false, output: `cannot resolve host ${host}` };
  }
  // bash prints "HOST: line 1: /dev/tcp/HOST/PORT: REASON"; the reason is the strerror text.
  const last = lines.pop() ?? '';
  const reason = /: ([^:]+)$/.exec(last)?.[1]?.trim() ?? (last || `exit code ${t.code ?? 'unknown'}`);
  return { ok: false, output: connectFailure(addr, reason) };
}

export function formatSeconds(ms: number): string {
  return ms >= 1000 && ms % 100 === 0 ? `${ms / 1000}s` : formatDuration(ms);
}

function connectFailure(addr: string, reason: string): string {
  const r = reason.replace(/\.$/, '');
  if (/connection refused/i.test(r)) return `connection refused on ${addr}`;
  return `could not connect to ${addr}: ${r.charAt(0).toLowerCase()}${r.slice(1)}`;
}

/** nsenter's own failure: the namespace is gone (the app exited) or not one. */
function enterFailure(stderr: string): string | null {
  const m = /^nsenter: (.*)$/m.exec(stderr);
  if (!m) return null;
  const text = m[1]!.trim();
  const tool = /failed to execute (\S+): No such file or directory/.exec(text);
  if (tool) return `the host tool ${tool[1]} is not installed; health probes need it`;
  return `cannot enter the service's network: ${text}`;
}

function hostPort(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port === '' ? (u.protocol === 'https:' ? '443' : '80') : u.port}`;
  } catch {
    return url;
  }
}

/** NISO3305 of `niso activate --wait` (either backend): the service turned unhealthy; `then` says what happened next. */
export function unhealthyError(service: string, output: string, then?: string): NisoError {
  return new NisoError('NISO3305', `${service} is unhealthy: ${output}${then ? ` (${then})` : ''}`, {
    hint: `\`niso debug ${service}\` shows the health history and the last log lines`,
  });
}

/** How long `niso activate --wait` waits without --timeout for a service without a health check to be active. */
export const WAIT_WITHOUT_CHECK_MS = 60_000;
/** Beyond the health check's own bound (state.ts unhealthyWithinMs): the supervisor's ticks and the recording. */
export const VERDICT_SLACK_MS = 5_000;

/**
 * NISO3304 of `niso activate --wait` (either backend) when it stops waiting before niso decided: at the user's
 * --timeout (niso goes on deciding), or, without one, when even the longest a verdict can take has passed.
 */
export function waitGaveUp(service: string, w: { timeoutMs: number | null; verdictWithinMs: number | null; what: string; now: string }): NisoError {
  const within = w.verdictWithinMs === null ? null : formatSeconds(w.verdictWithinMs);
  if (w.timeoutMs !== null) {
    return new NisoError('NISO3304', `${service} did not become ${w.what} within --timeout ${formatSeconds(w.timeoutMs)}, and niso has not decided yet (${w.now})`, {
      hint: within === null
        ? `\`niso status ${service}\` shows where it is`
        : `without --timeout, --wait waits for niso's own verdict, which its health check reaches within ${within} of the start; \`niso status ${service}\` shows it`,
    });
  }
  return new NisoError('NISO3304', `niso has not decided about ${service} within ${within ?? formatSeconds(WAIT_WITHOUT_CHECK_MS)}${within ? ', the longest its health check can take' : ''} (${w.now})`, {
    hint: `\`niso debug ${service}\` shows its health checks and exits; on the embedded backend, /run/niso/supervisor.log says what the supervisor does`,
  });
}
