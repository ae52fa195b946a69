import { productVersion } from '../../engine/install.js';
import type { CommandDefinition } from '../command.js';
import { ExitCode } from '../exit-codes.js';

export const versionCommand: CommandDefinition = {
  name: 'version',
  summary: 'Print the version of Stream Ferry',
  usage: [''],
  description: ['The same line as `ferry --version`: `stream-ferry VERSION`.'],
  options: [],
  run(_options, _positionals, io) {
    io.stdout.write(`stream-ferry ${productVersion()}\n`);
    return Promise.resolve(ExitCode.ok);
  },
};
