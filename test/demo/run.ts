// `npm run demo`: the main job end to end with no internet. It builds a small signed MAAS-shaped
// stream, serves it on 127.0.0.1 like images.maas.io, and runs `ferry` against it: the product
// table, a mirror of amd64 images plus bootloaders, then a rerun that has nothing to fetch. Then
// across the air gap: an export of that mirror to a folder standing in for a USB drive, `ferry
// verify` of the bundle, an import with `ferry import` and another with the bundle's own
// `sh import.sh`, the two trees compared byte for byte, and the MAAS commands to use them.
// `npm run demo -- --ui` serves the same stream and opens the app on it instead (browser mode), with
// the Source screen filled in, so the whole job can be done by clicking.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
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

      // The export from the tree takes the same selection: the tree holds only what it selected.
      const selection = ['--max', '1', 'arch=amd64', '--or', 'os~(grub*|pxelinux)'];
      const mirrorArgs = ['mirror', '--progress', '--keyring', keyring, source, target, ...selection];
      step(`ferry ${mirrorArgs.join(' ')}`);
      await rm(target, { recursive: true, force: true });
      status = await main(mirrorArgs);
      if (status !== 0) return status;

      server.resetCounters();
      step('The same command again: nothing new upstream, so no data file is fetched');
      status = await main(mirrorArgs);
      if (status !== 0) return status;
      step(`Item bytes the server sent for the rerun: ${dataBytesSent(server)}`);
      return await acrossTheAirGap(target, keyring, selection);
    } finally {
      await server.close();
    }
  } finally {
    // The served stream is scratch; the mirror and its keyring stay for the operator to look at.
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Export, verify, import twice (ferry import and import.sh), compare; the MAAS commands come from ferry import. */
async function acrossTheAirGap(mirror: string, keyring: string, selection: readonly string[]): Promise<number> {
  const drive = join(process.cwd(), 'demo-drive');
  const imported = join(process.cwd(), 'demo-import-ferry');
  const importedBySh = join(process.cwd(), 'demo-import-sh');
  await Promise.all([drive, imported, importedBySh].map((dir) => rm(dir, { recursive: true, force: true })));
  await mkdir(drive);

  const exportArgs = ['export', '--to', drive, '--tree', mirror, '--keyring', keyring, '--progress', ...selection];
  step(`ferry ${exportArgs.join(' ')}   (the folder stands in for a USB drive)`);
  let status = await main(exportArgs);
  if (status !== 0) return status;
  const bundles = await readdir(join(drive, 'FERRY'));
  if (bundles.length !== 1 || bundles[0] === undefined) throw new Error(`expected one bundle in ${drive}/FERRY, found ${bundles.length}`);
  const bundle = join(drive, 'FERRY', bundles[0]);

  step(`On the far side of the air gap: ferry verify ${bundle} --keyring ${keyring}`);
  status = await main(['verify', bundle, '--keyring', keyring]);
  if (status !== 0) return status;

  step(`ferry import ${bundle} --into ${imported} --keyring ${keyring}   (ends with the MAAS commands)`);
  status = await main(['import', bundle, '--into', imported, '--keyring', keyring]);
  if (status !== 0) return status;

  step(`The same bundle with nothing but POSIX sh and coreutils: sh ${join(bundle, 'import.sh')} ${importedBySh}`);
  status = await runShell(join(bundle, 'import.sh'), importedBySh);
  if (status !== 0) return status;

  const [byFerry, bySh] = await Promise.all([treeContents(imported), treeContents(importedBySh)]);
  const differing = [...new Set([...byFerry.keys(), ...bySh.keys()])].filter((path) => !(byFerry.get(path)?.equals(bySh.get(path) ?? Buffer.alloc(0)) ?? false));
  if (differing.length > 0) {
    step(`The two imports differ: ${differing.join(', ')}`);
    return 1;
  }
  step(`ferry import and import.sh built the same tree: ${byFerry.size} files, byte for byte.`);
  step(`Done. Serve ${imported} over HTTP (ferry serve ${imported} --bind ADDR, or any web server) and give MAAS the commands above, with the demo keyring ${keyring}.`);
  return 0;
}

function runShell(script: string, target: string): Promise<number> {
  return new Promise((resolveStatus, rejectStatus) => {
    const child = spawn('sh', [script, target], { stdio: 'inherit' });
    child.once('error', rejectStatus);
    child.once('close', (code) => {
      resolveStatus(code ?? 1);
    });
  });
}

/** Every regular file under `root` by its relative path, with its bytes (the demo's trees are small). */
async function treeContents(root: string): Promise<Map<string, Buffer>> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
  return new Map(await Promise.all(files.map(async (path) => [path.slice(root.length + 1), await readFile(path)] as const)));
}

function step(text: string): void {
  process.stderr.write(`\n== ${text}\n`);
}

process.exitCode = await runDemo(process.argv.includes('--ui'));
