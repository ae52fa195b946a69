import { SOURCE_PRESET_NAMES, createEngine } from '../../engine/index.js';
import { flagOption, stringOption, usageError, type CommandDefinition } from '../command.js';
import { followJob } from '../progress-display.js';
import { libraryOption } from './library-option.js';
import {
  assertKeepHasMax,
  jobOptionsFrom,
  reportOutcome,
  selectionFrom,
  selectionOptions,
  showJobEvents,
  transferOptions,
  type MetadataWording,
} from './mirror.js';
import { sourceOptions, streamInputFrom, streamSettingsFrom } from './source-options.js';

const LIBRARY_WORDING: MetadataWording = {
  keptPrevious: 'no new snapshot was recorded, so the library still describes its previous state',
  updated: (files) => `The library is up to date; the verified metadata (${files} file(s)) is recorded as its latest snapshot.`,
  servedAt: 'where an export of this library is served, ending in /',
};

export const syncCommand: CommandDefinition = {
  name: 'sync',
  summary: 'Bring the library up to date with a selection of a stream',
  argumentWords: SOURCE_PRESET_NAMES,
  usage: [
    '[--library DIR] [--profile NAME] [--max N] [--keep] [--dry-run] [--keyring FILE] [--no-verify] [-v] SOURCE [filters...] [--or filters...]',
    '[--library DIR] [--dry-run] [--max N] --profile NAME',
  ],
  description: [
    'Like `ferry mirror`, but into the library: each file is stored once by its sha256, however many',
    'paths, products or sources list it, and the verified metadata is recorded byte for byte as a',
    'snapshot, last and only when every wanted file arrived. Versions past --max stop being held;',
    'their files stay until `ferry gc` removes what no selection needs.',
    'With SOURCE, --profile NAME saves the source (and --path), filters, --max, --keep, --keyring and',
    '--no-verify under NAME; without SOURCE, --profile NAME runs the saved selection again (--max N',
    'changes its number of versions for this run only; --keyring or --no-verify replace the saved trust).',
  ],
  options: [
    libraryOption,
    { name: 'profile', type: 'string', valueName: 'NAME', description: 'save the selection under NAME (with SOURCE), or run the saved one (without)' },
    ...selectionOptions,
    ...transferOptions,
    ...sourceOptions,
  ],
  examples: [
    "ferry sync --profile lab --max 1 stable arch=amd64 'release~(jammy|noble)' --or 'os~(grub*|pxelinux)'",
    'ferry sync --profile lab',
    'ferry sync --library /srv/ferry --dry-run candidate os=ubuntu release=noble',
  ],
  async run(options, positionals, io) {
    const [source, ...filterArgs] = positionals;
    const profile = stringOption(options, 'profile');
    if (source === undefined && profile === undefined) throw usageError(syncCommand, 'Name a SOURCE, or a saved selection with --profile NAME.');
    if (source === undefined && (flagOption(options, 'keep') || flagOption(options, 'bootloaders'))) {
      throw usageError(syncCommand, `--profile ${profile ?? ''} without a SOURCE runs the saved selection as saved; give SOURCE and filters again to change it.`);
    }
    assertKeepHasMax(syncCommand, options);
    const selection = source === undefined ? undefined : selectionFrom(options, filterArgs);
    const events = showJobEvents(options, io);
    const engine = createEngine({ env: io.env, cwd: io.cwd });
    const job = engine.startJob('sync', {
      ...jobOptionsFrom(options),
      library: stringOption(options, 'library'),
      // Without SOURCE the saved selection's source is loaded, with these settings.
      stream: source === undefined ? streamSettingsFrom(options) : streamInputFrom(options, source, io),
      selection,
      profile,
    });
    const outcome = await followJob(job, io, events.onEvent).finally(events.finish);
    return reportOutcome(outcome, io, events.mode, LIBRARY_WORDING);
  },
};
