import type { CommandDefinition } from '../command.js';

/**
 * A command as `ferry --help` lists it, and how to load the rest. Each command's module (and through
 * it the engine, openpgp, SQLite, undici) is imported only when that command runs or its help is
 * asked for, so that `ferry --version` and `ferry help` start in a fraction of the eager time.
 * `name` and `summary` repeat the definition's; test/unit/cli/help.test.ts holds them equal.
 */
export interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  load(): Promise<CommandDefinition>;
}

/**
 * Every command, in the order `ferry --help` lists them. A new command is one line here:
 * `{ name, summary, load: async () => (await import('./file.js')).theCommand }`.
 */
export const commands: readonly CommandEntry[] = [
  { name: 'query', summary: 'List the items of a stream that match filters (like sstream-query)', load: async () => (await import('./query.js')).queryCommand },
  { name: 'mirror', summary: 'Mirror a stream into a directory MAAS can use (a drop-in for sstream-mirror)', load: async () => (await import('./mirror.js')).mirrorCommand },
  { name: 'sync', summary: 'Bring the library up to date with a selection of a stream', load: async () => (await import('./sync.js')).syncCommand },
  { name: 'library', summary: 'Show what the library holds: products, versions and bytes', load: async () => (await import('./library.js')).libraryCommand },
  { name: 'gc', summary: 'Remove the library files that no selection needs any more', load: async () => (await import('./gc.js')).gcCommand },
  { name: 'drives', summary: 'List the drives an export can go to, with their file systems and free space', load: async () => (await import('./drives.js')).drivesCommand },
  { name: 'serve', summary: 'Serve a mirror tree read-only over HTTP, as a MAAS boot source', load: async () => (await import('./serve.js')).serveCommand },
  { name: 'export', summary: 'Write a bundle (or a plain tree) for the air gap, from the library or a mirror tree', load: async () => (await import('./export.js')).exportCommand },
  { name: 'verify', summary: 'Check a bundle: its signatures, then every blob against its manifest', load: async () => (await import('./verify.js')).verifyCommand },
  { name: 'import', summary: 'Build or update a mirror tree from a bundle, verifying as it copies', load: async () => (await import('./import.js')).importCommand },
  { name: 'receipt', summary: 'Record what a mirror tree holds, for the next incremental export', load: async () => (await import('./receipt.js')).receiptCommand },
  { name: 'ui', summary: 'Open the app in a web browser (browser mode)', load: async () => (await import('./ui.js')).uiCommand },
  { name: 'completion', summary: 'Print a shell completion script for bash, zsh or fish', load: async () => (await import('./completion.js')).completionCommand(loadCommands) },
  { name: 'version', summary: 'Print the version of Stream Ferry', load: async () => (await import('./version.js')).versionCommand },
];

/** Every command's full definition, in `commands` order: for completion scripts, the man page and tests. */
export function loadCommands(): Promise<CommandDefinition[]> {
  return Promise.all(commands.map((entry) => entry.load()));
}
