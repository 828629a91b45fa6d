// What `niso debug` adds for a systemd service: systemd's own account of the unit (`systemctl status`), the
// exposure `systemd-analyze security` gives it with the findings that cost the most, the app's last output from
// journald, and what systemd's exit statuses 200-245 mean (the start failed in systemd, before the app ran).
import { tool, showSync, unitFileEnabled } from './systemctl.js';
export { journalTail } from './logs.js';
import { unitName } from '../../render/systemd-names.js';
import type { ExitRecord } from '../model/types.js';

export interface SecurityFinding { directive: string; description: string; exposure: number }

export interface SystemdDebug {
  unit: string;
  /** `systemctl status UNIT` as systemd prints it (no journal lines: niso shows the app's output itself). */
  status: string;
  /** `systemd-analyze security UNIT`: the overall exposure (0 safe … 10 unsafe), its rating and the findings that add to it, largest first. */
  security: { exposure: number; rating: string; findings: SecurityFinding[] } | null;
  /** Why not, when systemd-analyze could not rate the unit. */
  securityError: string | null;
  /** ExecMainStatus and what it means, when the last start failed inside systemd (statuses 200 and up). */
  execStatus: { status: number; name: string; meaning: string } | null;
  /**
   * Whether a boot starts it: its [Install] link, read from the disk. niso enables without a daemon-reload, and
   * systemd 252 keeps the enablement it computed before (`systemctl status` may say "disabled") until its next reload.
   */
  enabled: boolean;
}

/**
 * systemd's exit statuses for a start that failed before the app ran (systemd.exec(5), "Process Exit Codes"),
 * with what usually causes them in a niso unit.
 */
const EXEC_STATUSES: Record<number, [string, string]> = {
  200: ['CHDIR', 'the working directory does not exist in the sandbox: check [binary] workdir and that the package has it'],
  203: ['EXEC', 'the command could not be run: it is missing from the sandbox, not executable, or its interpreter is not mounted'],
  204: ['MEMORY', 'systemd ran out of memory preparing the start'],
  205: ['LIMITS', 'a resource limit could not be set: lower [resources] nofile'],
  209: ['STDOUT', 'the output could not be connected to journald'],
  210: ['CHROOT', 'the RootDirectory= skeleton is missing: activate the service again to write it'],
  216: ['GROUP', 'the service\'s group does not exist: activate the service again (niso registers it with systemd-sysusers)'],
  217: ['USER', 'the service\'s user does not exist: activate the service again (niso registers it with systemd-sysusers)'],
  218: ['CAPABILITIES', 'the capabilities of the plan could not be set'],
  219: ['CGROUP', 'the unit\'s cgroup could not be set up'],
  225: ['NETWORK', 'the network namespace could not be joined: the service\'s namespace is gone; activate it again'],
  226: ['NAMESPACE', 'the sandbox\'s mounts could not be set up: a path the plan binds (a volume, the package, the runtime) is missing on the host'],
  228: ['SECCOMP', 'the syscall filter could not be installed'],
  232: ['ADDRESS_FAMILIES', 'the socket-family filter could not be installed'],
  233: ['RUNTIME_DIRECTORY', 'a runtime directory could not be made'],
  237: ['KEYRING', 'the session keyring could not be set up'],
  238: ['STATE_DIRECTORY', 'the state directory could not be made'],
  243: ['CREDENTIALS', 'a secret could not be loaded: it was removed from niso\'s store (`niso secret ls`); create it again'],
};

export function execStatusMeaning(status: number): { name: string; meaning: string } | null {
  const e = EXEC_STATUSES[status];
  if (e) return { name: e[0], meaning: e[1] };
  if (status >= 200 && status <= 245) return { name: `systemd ${status}`, meaning: 'systemd could not prepare the start (see systemd.exec(5), "Process Exit Codes")' };
  return null;
}

interface AnalyzeEntry { set: boolean | null; name: string; description: string; exposure: string | null }

/** The JSON findings plus the overall line of the text report ("→ Overall exposure level for U: 0.9 SAFE 😀"). */
export function parseSecurity(json: string, text: string): { exposure: number; rating: string; findings: SecurityFinding[] } | null {
  const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?) (\w+)/.exec(text);
  if (!m) return null;
  let entries: AnalyzeEntry[] = [];
  try { entries = JSON.parse(json) as AnalyzeEntry[]; } catch { /* only the overall figure */ }
  const findings = entries
    .filter((e) => e.set === false && e.exposure !== null && Number(e.exposure) > 0)
    .map((e) => ({ directive: e.name, description: e.description, exposure: Number(e.exposure) }))
    .sort((a, b) => b.exposure - a.exposure);
  return { exposure: Number(m[1]), rating: m[2]!, findings };
}

export async function systemdDebug(service: string): Promise<SystemdDebug> {
  const unit = unitName(service);
  const args = ['security', '--no-pager', unit];
  const [status, text, json] = await Promise.all([
    tool('systemctl', ['status', '--no-pager', '--full', '--lines=0', unit]),
    tool('systemd-analyze', args),
    tool('systemd-analyze', [...args.slice(0, 2), '--json=short', unit]),
  ]);
  const security = parseSecurity(json.stdout, text.stdout);
  const p = showSync(unit, ['ExecMainStatus', 'ExecMainCode']);
  const code = Number(p.ExecMainStatus);
  const meaning = Number(p.ExecMainCode) === 1 ? execStatusMeaning(code) : null;
  return {
    unit,
    // systemctl status exits 3 for an inactive unit, 4 for an unknown one; its text is what matters.
    status: (status.stdout || status.stderr).trimEnd(),
    security,
    securityError: security ? null : (text.stderr || json.stderr || 'no rating').trim(),
    execStatus: meaning ? { status: code, ...meaning } : null,
    enabled: unitFileEnabled(unit),
  };
}

/** niso's own exit records and systemd's from the journal, oldest first; the journal's copy of one niso recorded (within a second) is dropped. */
export function mergeExits(recorded: readonly ExitRecord[], journal: readonly ExitRecord[], keep = 10): ExitRecord[] {
  const near = (a: ExitRecord, b: ExitRecord) => Math.abs(Date.parse(a.at) - Date.parse(b.at)) < 1000;
  const all = [...recorded, ...journal.filter((j) => !recorded.some((r) => near(r, j)))];
  return all.sort((a, b) => Date.parse(a.at) - Date.parse(b.at)).slice(-keep);
}
