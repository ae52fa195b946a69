// `npm run demo`: the main job end to end with no internet. It builds a small signed MAAS-shaped
// stream, serves it on 127.0.0.1 like images.maas.io, and runs `ferry` against it: the product
// table, a mirror of amd64 images plus bootloaders, then a rerun that has nothing to fetch.
// `npm run demo -- --ui` serves the same stream and opens the app on it instead (browser mode), with
// the Source screen filled in, so the whole job can be done by clicking.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { main } from '../../src-main/cli/main.js';
import { createSigningKey } from '../../src-main/pgp/index.js';
import { openBrowser } from '../../src-main/web/open-browser.js';
import { dataBytesSent, startFixtureServer } from '../support/fixture-server.js';
import { generateStream } from '../support/stream-generator.js';

const KIB = 1024;
const MIB = 1024 * KIB;

/**
 * Runs `ferry ui` on a library beside the demo mirror and opens the app with the demo source and
 * keyring filled in (the Source screen reads `source` and `keyring` from the page's query); stops
 * on Ctrl-C.
 */
async function runUi(source: string, keyring: string): Promise<number> {
  const child = spawn(process.execPath, [join(import.meta.dirname, '../../../bin/ferry.js'), 'ui', '--no-open', '--library', join(process.cwd(), 'demo-library')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stopped = once(child, 'exit');
  process.once('SIGINT', () => child.kill('SIGTERM'));
  const [firstLine] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
  const url = `${firstLine.trim()}?${new URLSearchParams({ source, keyring }).toString()}`;
  step(`The app: ${url}`);
  if (!(await openBrowser(url))) step('No browser could be opened here: open the URL above by hand.');
  step('Press Enter on Load source, tick what you want, Review the plan, Start sync. Ctrl-C stops.');
  const [code] = (await stopped) as [number | null];
  return code ?? 0;
}

async function runDemo(ui: boolean): Promise<number> {
  const target = join(process.cwd(), 'demo-mirror');
  const workDir = await mkdtemp(join(tmpdir(), 'ferry-demo-'));
  try {
    step('Building a signed demo stream (jammy and noble, amd64 and arm64, two versions each)');
    const key = await createSigningKey({ name: 'Stream Ferry demo', email: 'demo@stream-ferry.invalid' });
    // Beside the mirror, not in the work dir: MAAS needs it to verify the demo mirror afterwards.
    const keyring = join(process.cwd(), 'demo-keyring.gpg');
    await writeFile(keyring, key.publicKeyBinary);
    const streamDir = join(workDir, 'stream');
    await mkdir(streamDir);
    await generateStream(streamDir, {
      signingKey: key,
      releases: ['jammy', 'noble'],
      arches: ['amd64', 'arm64'],
      versions: 2,
      payloadSizes: { squashfs: 24 * MIB, 'boot-initrd': 8 * MIB, 'boot-kernel': 2 * MIB, manifest: 16 * KIB, 'root-tgz': 4 * MIB, 'archive.tar.xz': 512 * KIB },
    });
    const server = await startFixtureServer({ root: streamDir });
    try {
      const source = `${server.url}streams/v1/index.sjson`;
      step(`Serving it at ${source}`);
      if (ui) return await runUi(source, keyring);

      step('ferry query --products (what the stream offers)');
      let status = await main(['query', '--products', '--keyring', keyring, source]);
      if (status !== 0) return status;

      const mirrorArgs = ['mirror', '--max', '1', '--progress', '--keyring', keyring, source, target, 'arch=amd64', '--or', 'os~(grub*|pxelinux)'];
      step(`ferry ${mirrorArgs.join(' ')}`);
      await rm(target, { recursive: true, force: true });
      status = await main(mirrorArgs);
      if (status !== 0) return status;

      server.resetCounters();
      step('The same command again: nothing new upstream, so no data file is fetched');
      status = await main(mirrorArgs);
      if (status !== 0) return status;
      step(`Item bytes the server sent for the rerun: ${dataBytesSent(server)}`);
      step(`Done. The mirror is in ${target}; point MAAS at it over HTTP with the demo keyring ${keyring}.`);
      return 0;
    } finally {
      await server.close();
    }
  } finally {
    // The served stream is scratch; the mirror and its keyring stay for the operator to look at.
    await rm(workDir, { recursive: true, force: true });
  }
}

function step(text: string): void {
  process.stderr.write(`\n== ${text}\n`);
}

process.exitCode = await runDemo(process.argv.includes('--ui'));
