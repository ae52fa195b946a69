import { isIP } from 'node:net';
import { createApiService, rendererDir } from '../../engine/index.js';
import { DEFAULT_UI_BIND, startUiServer } from '../../web/server.js';
import { openBrowser } from '../../web/open-browser.js';
import { numberOption, stringOption, usageError, type CommandDefinition } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import { libraryOption } from './library-option.js';

export const uiCommand: CommandDefinition = {
  name: 'ui',
  summary: 'Open the app in a web browser (browser mode)',
  usage: ['[--port N] [--bind ADDR] [--no-open] [--library DIR]'],
  description: [
    'Runs the engine and serves the app to a web browser on this computer. The first line printed',
    'is the URL to open: it carries a random access token, and only requests that carry it are',
    'answered. Jobs keep running when the browser tab closes; open the URL again to see them.',
    'Ctrl-C or SIGTERM pauses running jobs (they resume later) and stops.',
  ],
  options: [
    { name: 'port', type: 'number', valueName: 'N', description: 'TCP port; 0 picks a free one', default: 0 },
    { name: 'bind', type: 'string', valueName: 'ADDR', description: 'IP address to listen on; keep the loopback default unless another computer must connect', default: DEFAULT_UI_BIND },
    { name: 'no-open', type: 'boolean', description: 'print the URL without opening a browser' },
    libraryOption,
  ],
  examples: ['ferry ui', 'ferry ui --no-open --port 8700'],
  async run(options, positionals, io) {
    if (positionals.length > 0) throw usageError(uiCommand, 'ferry ui takes no arguments.');
    const port = numberOption(options, 'port');
    if (port !== undefined && port > 65535) throw usageError(uiCommand, `--port takes 0 to 65535, not ${port}.`);
    const bind = stringOption(options, 'bind');
    if (bind !== undefined && isIP(bind) === 0) throw usageError(uiCommand, `--bind takes an IP address, not '${bind}'.`);
    const service = await createApiService({ library: stringOption(options, 'library'), env: io.env, cwd: io.cwd });
    const server = await startUiServer({ service, port, bind, rendererDir: rendererDir() });
    io.stdout.write(`${server.url}\n`);
    io.stderr.write(`Stream Ferry is running in browser mode; its data folder is ${service.dataDir}. Ctrl-C stops.\n`);
    if (bind !== undefined && bind !== DEFAULT_UI_BIND && !bind.startsWith('127.') && bind !== '::1') {
      io.stderr.write('Warning: other computers can reach this address; anyone with the URL controls Stream Ferry.\n');
    }
    if (options['no-open'] !== true && !(await openBrowser(server.url))) io.stderr.write('No browser could be opened; open the URL above by hand.\n');
    if (!io.signal.aborted) {
      await new Promise((resolveAborted) => {
        io.signal.addEventListener('abort', resolveAborted, { once: true });
      });
    }
    await server.close();
    await service.close();
    io.stderr.write('Stopped.\n');
    return ExitCode.ok;
  },
};
