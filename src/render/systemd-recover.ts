// niso-recover.service: at boot, settles a switch of generations that a power cut or a crash interrupted, as the
// next niso command would (generation/recover.ts), so that the host ends with exactly the old or exactly the new
// generation without anyone running niso. Pure: text out.
import { lineValue, pathWord } from './systemd-escape.js';
import { nisoOneshotLines, type NisoCommand } from './systemd-net.js';

export const RECOVER_UNIT = 'niso-recover.service';

/**
 * The unit runs only when a switch's journal is on the disk (ConditionPathExists=), early in the boot. It is not
 * ordered before niso's services: it stops and starts them through systemctl, and a start job that waited for it would
 * wait for itself. So the units enabled at the cut start as usual, and the recovery then puts back what the journal
 * says, at once.
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
    'After=local-fs.target',
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
