import type { LibraryLocationOptions } from '../../engine/index.js';
import { stringOption, type CliIo, type OptionDefinition, type ParsedOptions } from '../command.js';

/** `--library DIR`, shared by every command that works on the library. */
export const libraryOption: OptionDefinition = {
  name: 'library',
  type: 'string',
  valueName: 'DIR',
  description: 'the library folder; default: $FERRY_LIBRARY, else the app-data folder (~/.local/share/stream-ferry on Linux)',
};

export function libraryLocationFrom(options: ParsedOptions, io: CliIo): LibraryLocationOptions {
  return { library: stringOption(options, 'library'), env: io.env, cwd: io.cwd };
}
