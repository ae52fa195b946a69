import type { EjectOutcome } from '../engine/index.js';

/**
 * The clause that says what became of the drive after an export, to follow "written and
 * verified; " (issue 9 §3: written, verified and ejected are separate outcomes, each saying what
 * to do). `mountPoint` of a busy or failed drive goes into the remedy.
 */
export function ejectWords(outcome: EjectOutcome): string {
  switch (outcome.kind) {
    case 'ejected':
      return outcome.poweredOff ? 'ejected: the drive can be removed' : `unmounted ${outcome.mountPoint}: the drive can be removed`;
    case 'busy': {
      const holders = outcome.holders.map((holder) => `process ${holder.pid}${holder.command === '' ? '' : ` (${holder.command})`}`);
      const who = holders.length === 0 ? 'a program still uses it' : `${holders.join(', ')} ${holders.length === 1 ? 'holds' : 'hold'} it`;
      return `eject failed: the drive is busy (${who}); close ${holders.length === 1 ? 'it' : 'them'}, then eject ${outcome.mountPoint} before removing the drive`;
    }
    case 'failed':
      return `eject failed: ${outcome.tool} said: ${outcome.message}; eject ${outcome.mountPoint} yourself before removing the drive`;
    case 'not-a-drive':
      return `not ejected: ${outcome.path} is not on a removable drive (${outcome.reason})`;
  }
}
