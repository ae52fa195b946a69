import type { CommandDefinition } from '../command.js';
import { drivesCommand } from './drives.js';
import { gcCommand } from './gc.js';
import { libraryCommand } from './library.js';
import { mirrorCommand } from './mirror.js';
import { queryCommand } from './query.js';
import { serveCommand } from './serve.js';
import { syncCommand } from './sync.js';
import { uiCommand } from './ui.js';

/** Every command, in the order `ferry --help` lists them. */
export const commands: readonly CommandDefinition[] = [queryCommand, mirrorCommand, syncCommand, libraryCommand, gcCommand, drivesCommand, serveCommand, uiCommand];
