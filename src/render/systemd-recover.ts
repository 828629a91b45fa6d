// niso-recover.service: at boot, settles a switch of generations that a power cut or a crash interrupted, as the
// next niso command would (generation/recover.ts), so that the host ends with exactly the old or exactly the new
// generation without anyone running niso. Pure: text out.
import { lineValue, pathWord } from './systemd-escape.js';
import { nisoOneshotLines, type NisoCommand } from './systemd-net.js';

export const RECOVER_UNIT = 'niso-recover.service';

/**
 * The unit runs only when a switch's journal is on the disk (ConditionPathExists=), once the boot's own start jobs are
 * done: ordered after multi-user.target, which orders itself after every unit it wants (niso's services among them)
 * unless that unit has DefaultDependencies=no, as this one has, or the two would form a cycle. It is not ordered
 * before niso's services: it stops and starts them through systemctl, and a start job that waited for it would wait
 * for itself. Nor may it run beside their start jobs: a service whose boot start was still queued looked stopped to
 * the recovery, which then defined the old version and found the unit running (the boot had started it meanwhile) and
 * left it so, the new version running under the old unit. So the units enabled at the cut start as usual, and the
 * recovery then puts back what the journal says.
 */
export function renderRecoverUnit(niso: NisoCommand, journal: string): { name: string; text: string } {
  const oneshot = nisoOneshotLines(niso, '__recover');
  const text = [
    `# ${RECOVER_UNIT}: settles an interrupted switch of niso's generations at boot (NISO_ROOT ${niso.root}).`,
    '',
    '[Unit]',
    `Description=${lineValue('niso: settle an interrupted switch of generations', 'the description')}`,
    // Condition paths take no quotes: a root with a blank in its path runs it at every boot (it finds no journal).
    ...(/\s/.test(journal) ? [] : [`ConditionPathExists=${pathWord(journal)}`]),
    // The default dependencies of a service but the target's implicit After= on it (see above).
    'DefaultDependencies=no',
    'Requires=sysinit.target',
    'After=sysinit.target basic.target local-fs.target multi-user.target',
    'Conflicts=shutdown.target',
    'Before=shutdown.target',
    ...oneshot.unit,
    '',
    '[Service]',
    ...oneshot.service,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
  return { name: RECOVER_UNIT, text };
}
