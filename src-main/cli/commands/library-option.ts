import type { OptionDefinition } from '../command.js';

/** `--library DIR`, shared by every command that works on the library. */
export const libraryOption: OptionDefinition = {
  name: 'library',
  type: 'string',
  valueName: 'DIR',
  description: 'the library folder; default: $FERRY_LIBRARY, else the app-data folder (~/.local/share/stream-ferry on Linux)',
};
