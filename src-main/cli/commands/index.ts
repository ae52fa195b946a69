import type { CommandDefinition } from '../command.js';
import { drivesCommand } from './drives.js';
import { exportCommand } from './export.js';
import { gcCommand } from './gc.js';
import { importCommand } from './import.js';
import { libraryCommand } from './library.js';
import { mirrorCommand } from './mirror.js';
import { queryCommand } from './query.js';
import { receiptCommand } from './receipt.js';
import { serveCommand } from './serve.js';
import { syncCommand } from './sync.js';
import { uiCommand } from './ui.js';
import { verifyCommand } from './verify.js';

/** Every command, in the order `ferry --help` lists them. */
export const commands: readonly CommandDefinition[] = [queryCommand, mirrorCommand, syncCommand, libraryCommand, gcCommand, drivesCommand, serveCommand, exportCommand, verifyCommand, importCommand, receiptCommand, uiCommand];
