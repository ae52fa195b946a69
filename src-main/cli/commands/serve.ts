import { DEFAULT_BIND_ADDRESS, DEFAULT_SERVE_PORT, STOP_GRACE_MS, startServe, type RequestRecord, type ServeHandle } from '../../engine/index.js';
import { isIP } from 'node:net';
import { flagOption, listOption, numberOption, stringOption, usageError, type CommandDefinition } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import { formatError } from '../output.js';
import { bundleKeyringOption, trustBundleKeyringsOption } from './verify.js';

export const serveCommand: CommandDefinition = {
  name: 'serve',
  summary: 'Serve a mirror tree read-only over HTTP, as a MAAS boot source',
  usage: ['PATH [--port N] [--bind ADDR] [--keyring FILE] [--trust-bundle-keyrings]'],
  description: [
    'Serves the mirror tree in PATH (the directory holding streams/v1/) with GET, HEAD, byte ranges',
    'and conditional requests, until Ctrl-C or SIGTERM. Nothing outside PATH can be reached (no',
    '`..`, no links leaving PATH), directories are not listed and `.ferry/` is never served.',
    "The first line printed is the URL to give MAAS as its boot source (the mirror's base, ending in",
    '/); one line per request follows on stderr. Only this computer can connect unless --bind says',
    'otherwise. A folder with no streams/v1/ index (a library, say) is refused. Being stopped is how',
    'serve ends: Ctrl-C and SIGTERM exit 0, not 130 or 143.',
    'PATH may also be a bundle (a folder holding bundle.json or FERRY/<bundle id>/): its signatures are',
    'verified first, then the tree it describes is served straight from its blobs and parts.',
  ],
  options: [
    { name: 'port', type: 'number', valueName: 'N', description: 'TCP port; 0 picks a free one', default: DEFAULT_SERVE_PORT },
    {
      name: 'bind',
      type: 'string',
      valueName: 'ADDR',
      description: 'IP address to listen on: a loopback address for this computer only, 0.0.0.0 for every interface',
      default: DEFAULT_BIND_ADDRESS,
    },
    bundleKeyringOption,
    trustBundleKeyringsOption,
  ],
  examples: ['ferry serve /srv/mirror/maas/images/ephemeral-v3/stable', 'ferry serve /media/usb/mirror --bind 0.0.0.0 --port 8080'],
  async run(options, positionals, io) {
    const [path, ...extra] = positionals;
    if (path === undefined || extra.length > 0) throw usageError(serveCommand, 'ferry serve takes one PATH: the mirror tree to serve.');
    const port = numberOption(options, 'port');
    if (port !== undefined && port > 65535) throw usageError(serveCommand, `--port takes 0 to 65535, not ${port}.`);
    const bind = stringOption(options, 'bind');
    if (bind !== undefined && isIP(bind) === 0) {
      throw usageError(serveCommand, `--bind takes an IP address, not '${bind}': ${DEFAULT_BIND_ADDRESS} (the default), an address of this computer, or 0.0.0.0 for every interface.`);
    }
    const handle = await startServe({
      path,
      ...(port === undefined ? {} : { port }),
      ...(bind === undefined ? {} : { bind }),
      keyringFiles: listOption(options, 'keyring'),
      trustBundleKeyrings: flagOption(options, 'trust-bundle-keyrings'),
      onRequest: (record) => {
        io.stderr.write(formatRequest(record));
      },
    });
    io.stdout.write(describeServing(handle, path));
    if (!io.signal.aborted) {
      await new Promise((resolveAborted) => {
        io.signal.addEventListener('abort', resolveAborted, { once: true });
      });
    }
    await handle.stop();
    io.stderr.write('Stopped serving.\n');
    return ExitCode.ok;
  },
};

/**
 * The lines printed once listening: the boot-source URL first (scripts read it), then where the
 * server is reachable from, said plainly when that is more than this computer.
 */
export function describeServing(handle: ServeHandle, path: string): string {
  // MAAS's boot-source url is the mirror's base, ending in '/' (as mirror, sync and import print
  // it in url=$MIRROR_URL; MAAS docs: "boot-sources create url=http://images.maas.io/ephemeral-v3/stable/");
  // MAAS appends streams/v1/index.sjson itself.
  const [first = '', ...others] = handle.baseUrls;
  const where = handle.bindAddress.includes(':') ? `[${handle.bindAddress}]:${handle.port}` : `${handle.bindAddress}:${handle.port}`;
  const lines = [first];
  lines.push(
    handle.loopbackOnly
      ? `Serving ${path} read-only on ${where} (loopback only: other hosts cannot connect; use --bind ADDR to serve them).`
      : `Serving ${path} read-only on ${where} — reachable from other hosts.`,
  );
  for (const url of others) lines.push(`Also reachable as ${url}`);
  if (handle.entryPath === undefined) lines.push(`Warning: ${path} holds no streams/v1/index.sjson or index.json; MAAS will find nothing to import there.`);
  lines.push(`Give MAAS the first line as its boot source URL (maas $PROFILE boot-sources create url=URL keyring_filename=…). Ctrl-C or SIGTERM stops (open transfers get ${STOP_GRACE_MS / 1000} s to finish) and exits 0.`);
  return `${lines.join('\n')}\n`;
}

/** Control characters a client put in its request cannot reach the operator's terminal. */
const CONTROL_CHARACTERS = /\p{Cc}/gu;

function formatRequest(record: RequestRecord): string {
  const target = record.target.replace(CONTROL_CHARACTERS, (character) => `\\x${(character.codePointAt(0) ?? 0).toString(16).padStart(2, '0')}`);
  const line = `${record.remoteAddress} ${record.method.replace(CONTROL_CHARACTERS, '?')} ${target} ${record.status}${record.complete ? '' : ' (connection closed before the end)'}\n`;
  return record.error === undefined ? line : line + formatError(record.error);
}
