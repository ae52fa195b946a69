// `npm start`: the desktop app where an Electron binary is installed, browser mode where it is not
// (our build machines cannot fetch one). Run by Node, so it never loads the 'electron' package:
// require('electron') from Node tries to download the binary.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { installRoot } from '../engine/install.js';
import { electronBinary } from './electron-binary.js';

function run(command: string, args: string[]): void {
  const child = spawn(command, args, { stdio: 'inherit' });
  // A signal sent to this process alone (not to the terminal's process group) reaches the app too, which then stops cleanly.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      child.kill(signal);
    });
  }
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal === null ? 1 : 128);
  });
}

const root = installRoot();
const binary = electronBinary(root);
if (binary === undefined) {
  process.stderr.write('No Electron binary is installed (node_modules/electron/dist is missing), so Stream Ferry starts in browser mode.\n');
  run(process.execPath, [join(root, 'bin', 'ferry.js'), 'ui', ...process.argv.slice(2)]);
} else {
  run(binary, [root, ...process.argv.slice(2)]);
}
