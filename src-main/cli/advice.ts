// The CLI's words for SelectionAdvice (streams/diagnose.ts gives the facts): why nothing matched,
// and the missing bootloaders. MAAS's own vocabulary (boot-source-selections take `arches`,
// `subarches`, `releases`, `labels`) is mapped to the keys SimpleStreams items carry.

import type { NoMatchReport, SelectionAdvice } from '../engine/index.js';
import { shellWord } from '../base/format.js';

/** MAAS's words (boot-source-selection fields, UI labels) → the stream's item keys. */
const MAAS_WORDS: Readonly<Record<string, string>> = {
  arches: 'arch',
  architecture: 'arch',
  architectures: 'arch',
  subarches: 'subarch',
  releases: 'release',
  series: 'release',
  labels: 'label',
  oses: 'os',
  kflavour: 'kflavor',
  kflavors: 'kflavor',
  flavor: 'kflavor',
  flavour: 'kflavor',
  kernel_flavour: 'kflavor',
  kernel_flavor: 'kflavor',
};

/** Lines (without newlines) that explain `advice`; none when nothing stands out. */
export function adviceLines(advice: SelectionAdvice, bootloaderOption: string | undefined): string[] {
  const lines = advice.noMatch === undefined ? [] : noMatchLines(advice.noMatch);
  if (advice.lacksBootloaders) {
    lines.push(
      'WARNING: MAAS images are selected but no bootloader: MAAS cannot boot machines (PXE, UEFI) from this mirror alone.',
      bootloaderOption === undefined
        ? "  Add a group for them: --or 'bootloader-type~.'"
        : `  Add them with ${bootloaderOption} (or: --or 'bootloader-type~.').`,
    );
  }
  return lines;
}

function noMatchLines(report: NoMatchReport): string[] {
  const lines = ['Nothing matched the filters (exit status 0, as sstream).'];
  for (const { filter, key, nearestKeys } of report.unknownKeys) {
    if (MAAS_WORDS[key.toLowerCase()] !== undefined) continue;
    const near = nearestKeys.length === 0 ? '' : ` Did you mean ${nearestKeys.join(' or ')}?`;
    lines.push(`  ${filter}: no item has the key '${key}'.${near}`);
  }
  for (const { filter, key, nearestValues } of report.unmatchedValues) {
    lines.push(`  ${filter}: no item matches; existing values of '${key}' include: ${nearestValues.join(', ')}.`);
  }
  for (const { filters, regex, group } of report.sameKeyAlternatives) {
    lines.push(`  ${filters.join(' ')}: an item has one value of '${regex.slice(0, regex.indexOf('~'))}', so it cannot match all of them; for any of them, use one filter: ${group.map(shellWord).join(' ')}`);
  }
  for (const group of report.andedAlternatives) {
    lines.push(`  ${group.join(' ')}: each matches alone, but an item must match all of them; for either, separate them with --or: ${group.join(' --or ')}`);
  }
  // MAAS's words, whether no item has them or only bootloaders do (their `arches` lists): every
  // one in the selection, since one that matches bootloaders alone is in none of the lists above.
  for (const filter of report.filters) {
    const key = /^[^=!~ ]+/.exec(filter)?.[0] ?? '';
    const streamKey = MAAS_WORDS[key.toLowerCase()];
    if (streamKey !== undefined) {
      lines.push(`  ${filter}: '${key}' is MAAS's word; this stream's images call it '${streamKey}' (e.g. ${streamKey}${filter.slice(key.length)}).`);
    }
  }
  lines.push('  Run `ferry query --products SOURCE` to see what the stream has.');
  return lines;
}
