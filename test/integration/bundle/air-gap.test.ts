import { spawn } from 'node:child_process';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMPORT_SCRIPT_EXIT } from '../../../src-main/media/bundle/import-script.js';
import { blobFilePath, BUNDLE_FILES } from '../../../src-main/media/bundle/manifest.js';
import { rawRequest, startFerryServe } from '../../support/ferry-serve.js';
import { runFerry, type FerryRun } from '../../support/run-ferry.js';
import { generateStream } from '../../support/stream-generator.js';
import { blobSet, bundleDirs, expectOk, lastLine, readManifest } from '../export/helpers.js';
import { describeRun, makeWorkDir, removeQuietly, serveSignedStream, twoProductShape, type ServedStream } from '../mirror/helpers.js';
import { expectSameTree, snapshotTree } from './offline-helpers.js';

// Issue 9 §6, end to end with the real exporter: a signed stream served on loopback is mirrored
// and synced to a library; `ferry export` writes the bundle; on the far side `ferry verify`,
// `ferry import`, and import.sh under dash and under busybox sh each build the tree, and the
// trees are the same bytes; `ferry serve` of the tree and of the bundle are mirrored back with
// every signature and hash checked. Then an upstream update, an incremental export by site and by
// receipt, and a tampered blob in a real bundle.

let workDir: string;
let served: ServedStream;
let library: string;
let keyring: string[];
let mirrorTree: string;
let bundle: string;
const trees = { ferry: '', dash: '', busybox: '' };

const ferry = (args: readonly string[]): Promise<FerryRun> => runFerry(args, { timeoutMs: 120_000 });

interface ScriptRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

function importSh(shell: readonly string[], bundleDir: string, target: string): Promise<ScriptRun> {
  return new Promise((resolveRun, rejectRun) => {
    const [command = 'sh', ...args] = shell;
    const child = spawn(command, [...args, join(bundleDir, BUNDLE_FILES.importScript), target]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', rejectRun);
    child.on('close', (status) => {
      resolveRun({ status, stdout, stderr });
    });
  });
}

const DASH = ['/usr/bin/dash'];
const BUSYBOX = ['/usr/bin/busybox', 'sh'];

beforeAll(async () => {
  workDir = await makeWorkDir('air-gap');
  served = await serveSignedStream(workDir, 'Air gap test', twoProductShape(2));
  keyring = ['--keyring', served.testKey.keyringFile];
  library = join(workDir, 'library');
  mirrorTree = join(workDir, 'mirror');
  expectOk(await ferry(['mirror', ...keyring, served.source, mirrorTree]));
  expectOk(await ferry(['sync', '--library', library, ...keyring, served.source]));
  // Exports go into folders that exist, as mounted drives do.
  await Promise.all(['drive', 'drive-2', 'drive-3'].map((name) => mkdir(join(workDir, name))));
  const exported = expectOk(await ferry(['export', '--to', join(workDir, 'drive'), '--site', 'lab', '--library', library, ...keyring, served.source]));
  bundle = lastLine(exported);
  trees.ferry = join(workDir, 'site-ferry');
  trees.dash = join(workDir, 'site-dash');
  trees.busybox = join(workDir, 'site-busybox');
});

afterAll(async () => {
  await served.server.close();
  await removeQuietly(workDir);
});

describe('across the air gap with the real exporter', () => {
  it('verify passes; ferry import, dash import.sh and busybox import.sh build the mirror byte for byte', async () => {
    const verified = await ferry(['verify', bundle, ...keyring]);
    expect(verified.code, describeRun(verified)).toBe(0);
    expectOk(await ferry(['import', bundle, '--into', trees.ferry, ...keyring]));
    for (const [shell, target] of [[DASH, trees.dash], [BUSYBOX, trees.busybox]] as const) {
      const run = await importSh(shell, bundle, target);
      expect(run.status, `${shell.join(' ')}: ${run.stderr}`).toBe(IMPORT_SCRIPT_EXIT.complete);
    }
    await expectSameTree(trees.ferry, mirrorTree);
    await expectSameTree(trees.dash, trees.ferry);
    await expectSameTree(trees.busybox, trees.ferry);
  });

  it('ferry serve of the imported tree and of the bundle are each mirrored back, signatures and hashes checked; traversal is refused', async () => {
    for (const [name, path] of [['tree', trees.ferry], ['bundle', bundle]] as const) {
      const serving = await startFerryServe([path, '--port', '0', ...keyring]);
      const back = join(workDir, `back-from-${name}`);
      let run: FerryRun;
      try {
        run = await ferry(['mirror', ...keyring, serving.bootSourceUrl, back]);
        for (const target of ['/../bundle.json', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd', '/streams/../../etc/passwd']) {
          const response = await rawRequest(serving.baseUrl, target);
          expect([400, 403, 404], `${name} ${target}`).toContain(response.status);
          expect(response.body.toString()).not.toContain('root:');
        }
      } finally {
        await serving.stop();
      }
      expect(run.code, describeRun(run)).toBe(0);
      expect(run.stderr + run.stdout).toMatch(/Verified \d+ signed metadata file/);
      await expectSameTree(back, mirrorTree);
    }
  });

  it('a blob tampered with in the exported bundle: verify names it, ferry import and import.sh refuse and leave the target as it was', async () => {
    const copy = join(workDir, 'tampered');
    await cp(bundle, copy, { recursive: true });
    const manifest = await readManifest(copy);
    const item = manifest.files.find((file) => file.role === 'item');
    if (item === undefined) throw new Error('the bundle carries items');
    const blobPath = join(copy, blobFilePath(item.sha256));
    const bytes = await readFile(blobPath);
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
    await writeFile(blobPath, bytes);

    const verified = await ferry(['verify', copy, ...keyring]);
    expect(verified.code, describeRun(verified)).toBe(3);
    expect(verified.stdout + verified.stderr).toContain(item.sha256);

    const target = join(workDir, 'tampered-target');
    expectOk(await ferry(['import', bundle, '--into', target, ...keyring]));
    await writeFile(join(target, item.path), 'an older copy the site had\n');
    const before = await snapshotTree(target);
    const imported = await ferry(['import', copy, '--into', target, ...keyring]);
    expect(imported.code, describeRun(imported)).toBe(3);
    expect(imported.stderr).toContain(item.path);
    expect(await snapshotTree(target)).toEqual(before);

    const script = await importSh(DASH, copy, join(workDir, 'tampered-sh'));
    expect(script.status).toBe(IMPORT_SCRIPT_EXIT.badBlob);
    expect(script.stderr).toContain(item.sha256);
  });

  it('after an upstream update, --site and a receipt each carry exactly the new blobs, and both importers apply them on top', async () => {
    // The site (busybox's tree) answers with a receipt before it takes the update.
    const receipt = join(workDir, 'receipt.json');
    expectOk(await ferry(['receipt', trees.busybox, '--out', receipt]));
    const first = await readManifest(bundle);

    await generateStream(served.stream.baseDir, { ...twoProductShape(3), signingKey: served.testKey.key });
    expectOk(await ferry(['sync', '--library', library, ...keyring, served.source]));
    const bySite = expectOk(await ferry(['export', '--to', join(workDir, 'drive-2'), '--site', 'lab', '--library', library, ...keyring, served.source]));
    const byReceipt = expectOk(await ferry(['export', '--to', join(workDir, 'drive-3'), '--since', receipt, '--library', library, ...keyring, served.source]));
    const [siteManifest, receiptManifest] = await Promise.all([readManifest(lastLine(bySite)), readManifest(lastLine(byReceipt))]);
    const before = new Set(first.files.map((file) => file.sha256));
    const expected = [...new Set(siteManifest.files.map((file) => file.sha256))].filter((sha256) => !before.has(sha256)).sort();
    expect(expected.length).toBeGreaterThan(0);
    expect(blobSet([siteManifest])).toEqual(expected);
    expect(blobSet([receiptManifest])).toEqual(expected);
    expect(siteManifest.base).toEqual({ kind: 'site', id: first.id });
    expect(receiptManifest.base?.kind).toBe('receipt');

    const increment = lastLine(bySite);
    expectOk(await ferry(['import', increment, '--into', trees.ferry, ...keyring]));
    const run = await importSh(DASH, increment, trees.dash);
    expect(run.status, run.stderr).toBe(IMPORT_SCRIPT_EXIT.complete);
    const viaReceipt = await importSh(BUSYBOX, lastLine(byReceipt), trees.busybox);
    expect(viaReceipt.status, viaReceipt.stderr).toBe(IMPORT_SCRIPT_EXIT.complete);

    const upToDate = join(workDir, 'mirror-now');
    expectOk(await ferry(['mirror', ...keyring, served.source, upToDate]));
    // The update keeps older versions in the imported trees (no --prune): every file the new
    // metadata lists is there with its bytes, and the two importers agree on the whole tree.
    for (const file of siteManifest.files) expect(await readFile(join(trees.ferry, file.path))).toEqual(await readFile(join(upToDate, file.path)));
    await expectSameTree(trees.dash, trees.ferry);
    await expectSameTree(trees.busybox, trees.ferry);
    expect((await bundleDirs(join(workDir, 'drive-2'))).length).toBe(1);
  });
});
