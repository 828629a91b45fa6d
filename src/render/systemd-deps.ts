// A stack service's depends_on as systemd ordering, so that a reboot brings a stack up in order without a niso
// command: After= on every dependency, Wants= on those that must run (started, healthy) so that a start pulls them
// in, and for `healthy` and `completed` a oneshot companion (niso-SERVICE-deps.service) that runs niso's own wait
// before each start, since systemd knows only "started". Never Requires= or BindsTo=: a switch that restarts a
// dependency must not stop its dependents (only `restart = true` restarts them, as the switch decides), and a
// one-shot job (`completed`) is only ordered after, never pulled in: a dependent's start would run it again, or stop
// it half way. Pure: text out.
import { depsUnitName, unitName } from './systemd-names.js';
import { lineValue } from './systemd-escape.js';
import { nisoOneshotLines, type NisoCommand } from './systemd-net.js';

export interface UnitDependency {
  /** The dependency's niso service name (`shop.db`). */
  service: string;
  condition: 'started' | 'healthy' | 'completed';
}

export function renderDependencyUnits(service: string, deps: readonly UnitDependency[], niso: NisoCommand | undefined): { unitLines: string[]; companions: { name: string; text: string }[]; notes: string[] } {
  if (deps.length === 0) return { unitLines: [], companions: [], notes: [] };
  const after = deps.map((d) => unitName(d.service));
  const wants = deps.filter((d) => d.condition !== 'completed').map((d) => unitName(d.service));
  const unitLines = [
    `# depends_on: started after ${deps.map((d) => `${d.service} (${d.condition})`).join(', ')}.`,
    `After=${after.join(' ')}`,
    ...(wants.length > 0 ? [`Wants=${wants.join(' ')}`] : []),
  ];
  const waited = deps.filter((d) => d.condition !== 'started');
  if (waited.length === 0) return { unitLines, companions: [], notes: [] };
  if (niso === undefined) return { unitLines, companions: [], notes: [`depends_on ${waited.map((d) => `${d.service} (${d.condition})`).join(', ')}: no niso command was given to wait for it, so the unit only starts after it`] };
  const name = depsUnitName(service);
  const oneshot = nisoOneshotLines(niso, '__wait-dependencies', service);
  const text = [
    `# ${name}: waits, before each start of niso service ${service}, until ${waited.map((d) => `${d.service} is ${d.condition}`).join(' and ')}.`,
    '',
    '[Unit]',
    `Description=${lineValue(`niso service ${service}: wait for its dependencies`, 'the description')}`,
    `After=${waited.map((d) => unitName(d.service)).join(' ')}`,
    ...oneshot.unit,
    '',
    '[Service]',
    ...oneshot.service,
    // niso bounds the wait itself (the dependency's health check's own bound, 2 minutes otherwise).
    'TimeoutStartSec=infinity',
    '',
  ].join('\n');
  unitLines.push(`Requires=${name}`, `After=${name}`);
  return { unitLines, companions: [{ name, text }], notes: [] };
}
