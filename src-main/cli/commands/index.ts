import type { CommandDefinition } from '../command.js';
import { mirrorCommand } from './mirror.js';
import { queryCommand } from './query.js';

/** Every command, in the order `ferry --help` lists them. */
export const commands: readonly CommandDefinition[] = [queryCommand, mirrorCommand];
