import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, rename, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobFilePath, parseReceipt } from '../../../src-main/media/bundle/manifest.js';
import { buildBundle, readManifest, writeManifest, type BuiltBundle } from '../../support/bundle-builder.js';
import { rawRequest, startFerryServe } from '../../support/ferry-serve.js';
import { collect, runFerry, spawnFerry } from '../../support/run-ferry.js';
import { describeRun, KIB, makeKey, makeWorkDir, removeQuietly, serveSignedStream, sha256OfFile, sleep, walkFiles, type ServedStream } from '../mirror/helpers.js';
import { lastLine } from '../export/helpers.js';
import { expectSameTree, offlineShape, snapshotTree } from './offline-helpers.js';

// The offline side of issue 9 (§5, §6): bundles laid out by test/support/bundle-builder.ts from a
// tree `ferry mirror` made, checked by `ferry verify`, turned back into that tree by `ferry import`,
// and served straight from the drive by `ferry serve` — all through the CLI as a subprocess.

let workDir: string;
let upstream: ServedStream;
/** The tree `ferry mirror` made: what every import must reproduce byte for byte. */
let treeA: string;
let good: BuiltBundle;
/** The upstream key, passed explicitly: a bundle's own keyrings/ are not trusted unasked. */
let keyring: string[];

beforeAll(async () => {
  workDir = await makeWorkDir('bundle-offline');
  upstream = await serveSignedStream(workDir, 'Bundle offline', offlineShape);
  keyring = ['--keyring', upstream.testKey.keyringFile];
  treeA = join(workDir, 'tree-a');
  const mirrored = await runFerry(['mirror', '--keyring', upstream.testKey.keyringFile, upstream.source, treeA]);
  expect(mirrored.code, describeRun(mirrored)).toBe(0);
  good = await buildBundle({ tree: treeA, folders: [join(workDir, 'usb')], keyringFile: upstream.testKey.keyringFile });
}, 120_000);

afterAll(async () => {
  await upstream.server.close();
  await removeQuietly(workDir);
});

/** A fresh copy of the good bundle's drive, to damage. */
async function copyOfGood(name: string): Promise<{ folder: string; dir: string }> {
  const folder = join(workDir, name);
  await cp(good.folders[0] ?? '', folder, { recursive: true });
  return { folder, dir: join(folder, 'FERRY', good.id) };
}

function itemBlob(bundle: BuiltBundle, index = 0): { sha256: string; path: string } {
  const items = bundle.files.filter((file) => file.role === 'item').sort((a, b) => b.size - a.size);
  const file = items[index];
  if (file === undefined) throw new Error('no item');
  return { sha256: file.sha256, path: file.path };
}

describe('ferry verify', () => {
  it('passes a good bundle, reporting who signed its metadata and when', async () => {
    const run = await runFerry(['verify', ...keyring, good.folders[0] ?? '']);
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.stdout).toContain('Complete: yes. Valid: yes.');
    expect(run.stdout).toMatch(/Signature good: streams\/v1\/index\.sjson signed by [0-9A-F]{40} at \d{4}-\d\d-\d\dT/);
    const json = await runFerry(['verify', ...keyring, '--json', good.dirs[0] ?? '']);
    const outcome = JSON.parse(lastLine(json)) as { complete: boolean; valid: boolean; signatures: unknown[]; blobsChecked: number };
    expect(outcome).toMatchObject({ complete: true, valid: true });
    expect(outcome.signatures.length).toBe(good.files.filter((file) => file.role === 'metadata' && file.path.endsWith('.sjson')).length);
    expect(outcome.blobsChecked).toBe(new Set(good.files.map((file) => file.sha256)).size);
  });

  it('names a tampered blob and the file it is for (exit 3); import refuses it and leaves the target as it was', async () => {
    const { folder, dir } = await copyOfGood('tampered');
    const victim = itemBlob(good);
    const blobPath = join(dir, blobFilePath(victim.sha256));
    const bytes = await readFile(blobPath);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await writeFile(blobPath, bytes);
    const run = await runFerry(['verify', ...keyring, folder]);
    expect(run.code, describeRun(run)).toBe(3);
    expect(run.stdout).toContain(`BAD blob ${victim.sha256}`);
    expect(run.stdout).toContain(victim.path);
    expect(run.stdout).toContain('Valid: NO');

    // A target holding an older tree (half of tree A, plus a file of its own).
    const target = join(workDir, 'tampered-target');
    await cp(treeA, target, { recursive: true });
    await rm(join(target, victim.path));
    await writeFile(join(target, 'local-note.txt'), 'mine');
    const before = await snapshotTree(target);
    const imported = await runFerry(['import', ...keyring, folder, '--into', target]);
    expect(imported.code, describeRun(imported)).toBe(3);
    expect(imported.stderr).toContain(victim.path);
    expect(imported.stderr).toContain('FERRY_HASH_MISMATCH');
    expect(await snapshotTree(target)).toEqual(before);
  });

  it('checks signatures first: an unknown signer or a changed metadata blob is refused (exit 3) and nothing is imported', async () => {
    const otherDir = join(workDir, 'other-key');
    await mkdir(otherDir);
    const other = await makeKey(otherDir, 'Someone else');
    const unknown = await runFerry(['verify', '--keyring', other.keyringFile, good.folders[0] ?? '']);
    expect(unknown.code, describeRun(unknown)).toBe(3);
    // The signer is not in the keyring given; the bundle's own keyring holds it, which is said, not trusted.
    expect(unknown.stderr).toContain('FERRY_BUNDLE_KEY_UNTRUSTED');

    const { folder, dir } = await copyOfGood('tampered-metadata');
    const index = good.files.find((file) => file.path === 'streams/v1/index.sjson');
    const blobPath = join(dir, blobFilePath(index?.sha256 ?? ''));
    await writeFile(blobPath, (await readFile(blobPath, 'utf8')).replace('"format"', '"format" '));
    const target = join(workDir, 'tampered-metadata-target');
    for (const args of [['verify', folder], ['import', folder, '--into', target]]) {
      const run = await runFerry(args);
      expect(run.code, describeRun(run)).toBe(3);
      expect(run.stderr).toMatch(/FERRY_HASH_MISMATCH|FERRY_SIZE_MISMATCH/);
    }
    expect(await walkFiles(target)).toEqual([]);

    // The same change with bundle.json and SHA256SUMS rewritten to match: the signature catches it.
    const tampered = await readFile(blobPath);
    const digest = createHash('sha256').update(tampered).digest('hex');
    await mkdir(join(dir, blobFilePath(digest), '..'), { recursive: true });
    await rename(blobPath, join(dir, blobFilePath(digest)));
    const manifest = await readManifest(dir);
    for (const entry of [...manifest.files, ...manifest.blobs]) {
      if (entry.sha256 === index?.sha256) Object.assign(entry, { sha256: digest, size: tampered.length });
    }
    await writeManifest(dir, manifest);
    const forged = await runFerry(['import', ...keyring, folder, '--into', target]);
    expect(forged.code, describeRun(forged)).toBe(3);
    expect(forged.stderr).toContain('FERRY_SIG_BAD');
    expect(await walkFiles(target)).toEqual([]);
  });

  it("does not trust the bundle's own keyrings unasked: metadata re-signed by an attacker who put their key in keyrings/ is refused (exit 3)", async () => {
    const attackerDir = join(workDir, 'attacker');
    await mkdir(attackerDir);
    const attacker = await makeKey(attackerDir, 'Attacker');
    // The same tree, its metadata re-signed with the attacker's key, and that key in the bundle's keyrings/.
    const { generateStream } = await import('../../support/stream-generator.js');
    const evilTree = join(workDir, 'evil-tree');
    await generateStream(evilTree, { ...offlineShape, signingKey: attacker.key });
    // As ferry mirror left tree A: the signed files only.
    for (const path of await walkFiles(evilTree)) if (path.startsWith('streams/v1/') && path.endsWith('.json')) await rm(join(evilTree, path));
    const evil = await buildBundle({ tree: evilTree, folders: [join(workDir, 'usb-evil')], keyringFile: attacker.keyringFile, id: '20261130T054000Z-0000eeee' });
    const folder = evil.folders[0] ?? '';
    const carriedKeyring = join(evil.dirs[0] ?? '', 'keyrings', 'test-keyring.gpg');
    const target = join(workDir, 'evil-target');
    // By default (the bundled Ubuntu keyring, as ferry mirror) and with the publisher's keyring: refused,
    // naming the key's fingerprint to compare and exactly which option would trust the bundle's keyring.
    for (const args of [['verify', folder], ['verify', ...keyring, folder], ['import', folder, '--into', target]]) {
      const run = await runFerry(args);
      expect(run.code, describeRun(run)).toBe(3);
      expect(run.stderr).toContain('FERRY_BUNDLE_KEY_UNTRUSTED');
      expect(run.stderr).toContain(attacker.key.fingerprint);
      expect(run.stderr).toContain(`--keyring ${carriedKeyring}`);
      expect(run.stderr).toContain('--trust-bundle-keyrings');
    }
    expect(await walkFiles(target)).toEqual([]);
    const refusedServe = await runFerry(['serve', folder, '--port', '0']);
    expect(refusedServe.code, describeRun(refusedServe)).toBe(3);
    expect(refusedServe.stderr).toContain('FERRY_BUNDLE_KEY_UNTRUSTED');
    // Only when the operator says so.
    for (const args of [['verify', '--trust-bundle-keyrings', folder], ['verify', '--keyring', carriedKeyring, folder]]) {
      const run = await runFerry(args);
      expect(run.code, describeRun(run)).toBe(0);
      expect(run.stdout).toContain(`signed by ${attacker.key.fingerprint}`);
    }
    expect((await runFerry(['verify', '--help'])).stdout).toMatch(/--trust-bundle-keyrings[\s\S]*could have put their own key/);
  });

  it('reports a missing blob as incomplete, naming it (verify exit 1; import writes the rest and exits 4, as import.sh)', async () => {
    const { folder, dir } = await copyOfGood('missing');
    const victim = itemBlob(good, 1);
    await rm(join(dir, blobFilePath(victim.sha256)));
    const run = await runFerry(['verify', ...keyring, folder]);
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stdout).toContain(`MISSING blob ${victim.sha256}`);
    expect(run.stdout).toContain(victim.path);
    expect(run.stdout).toContain('Complete: NO. Valid: yes.');
    const target = join(workDir, 'missing-target');
    const imported = await runFerry(['import', ...keyring, folder, '--into', target]);
    expect(imported.code, describeRun(imported)).toBe(4);
    expect(imported.stdout).toContain(`MISSING blob ${victim.sha256}`);
    const written = await walkFiles(target);
    expect(written).not.toContain(victim.path);
    expect(written.length).toBeGreaterThan(0);
    expect(written.some((path) => path.startsWith('streams/'))).toBe(false);
  });

  it('refuses manifests that list a traversal path, an item the signed metadata lacks, or another size', async () => {
    const cases: Array<[string, (manifest: Awaited<ReturnType<typeof readManifest>>) => void, RegExp]> = [
      ['traversal', (manifest) => manifest.files.push({ path: '../escape.bin', size: 1, sha256: 'a'.repeat(64), role: 'item' }), /'\.\.' segment/],
      ['encoded', (manifest) => manifest.files.push({ path: 'a/%2e%2e/%2e%2e/escape.bin', size: 1, sha256: 'a'.repeat(64), role: 'item' }), /FERRY_BUNDLE_INVALID/],
      ['extra', (manifest) => {
        const carried = manifest.files.find((file) => file.role === 'item');
        if (carried !== undefined) manifest.files.push({ ...carried, path: 'server/extra/not-signed.bin' });
      }, /no item of the signed metadata has that path/],
      ['resized', (manifest) => {
        const item = manifest.files.find((file) => file.role === 'item');
        if (item !== undefined) item.size += 1;
      }, /another size or sha256/],
    ];
    for (const [name, edit, expected] of cases) {
      const { folder, dir } = await copyOfGood(`hostile-${name}`);
      const manifest = await readManifest(dir);
      edit(manifest);
      await writeManifest(dir, manifest, { check: false });
      const target = join(workDir, `hostile-${name}-target`);
      const run = await runFerry(['verify', ...keyring, folder]);
      expect(run.code, `${name}: ${describeRun(run)}`).toBe(1);
      expect(run.stderr, name).toContain('FERRY_BUNDLE_INVALID');
      expect(run.stderr, name).toMatch(expected);
      const imported = await runFerry(['import', ...keyring, folder, '--into', target]);
      expect(imported.code, name).toBe(1);
      expect(await walkFiles(target), name).toEqual([]);
    }
    expect(await walkFiles(workDir).then((paths) => paths.filter((path) => path.endsWith('escape.bin')))).toEqual([]);
  });

  it('asks which bundle when a folder holds several, and says when it holds none', async () => {
    const folder = join(workDir, 'two-bundles');
    await cp(good.dirs[0] ?? '', join(folder, 'FERRY', good.id), { recursive: true });
    await cp(good.dirs[0] ?? '', join(folder, 'FERRY', '20261130T060000Z-00000002'), { recursive: true });
    const run = await runFerry(['verify', ...keyring, folder]);
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toContain('FERRY_BUNDLE_NOT_FOUND');
    expect(run.stderr).toContain(join(folder, 'FERRY', good.id));
    expect(run.stderr).toContain('20261130T060000Z-00000002');
    const none = await runFerry(['verify', ...keyring, upstream.stream.baseDir]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('holds no bundle');
  });

  it('names a part of the wrong size', async () => {
    const parted = await buildBundle({ tree: treeA, folders: [join(workDir, 'parted')], keyringFile: upstream.testKey.keyringFile, partSize: 40 * KIB, id: '20261130T054000Z-0000aaaa' });
    const ok = await runFerry(['verify', ...keyring, parted.folders[0] ?? '']);
    expect(ok.code, describeRun(ok)).toBe(0);
    const victim = itemBlob(parted);
    await truncate(join(parted.dirs[0] ?? '', `${blobFilePath(victim.sha256)}.part-2`), 100);
    const run = await runFerry(['verify', ...keyring, parted.folders[0] ?? '']);
    expect(run.code, describeRun(run)).toBe(3);
    expect(run.stdout).toContain(`${blobFilePath(victim.sha256)}.part-2`);
    expect(run.stdout).toContain('FERRY_SIZE_MISMATCH');
  });
});

describe('ferry import', () => {
  it('rebuilds the mirror tree byte for byte, is idempotent, and prints the MAAS commands', async () => {
    const target = join(workDir, 'import-fresh');
    const run = await runFerry(['import', ...keyring, good.folders[0] ?? '', '--into', target]);
    expect(run.code, describeRun(run)).toBe(0);
    await expectSameTree(target, treeA);
    expect(await walkFiles(target, { includeState: true })).toEqual(await walkFiles(treeA));
    expect(run.stdout).toMatch(/maas \$PROFILE boot-sources create url=http:\/\/[^ ]+:8080\/ keyring_filename=\//);
    expect(run.stdout).toContain('maas $PROFILE boot-source-selections create $BOOT_SOURCE_ID os=ubuntu release=jammy arches=amd64');
    expect(run.stdout).toContain('maas $PROFILE boot-source-selections create $BOOT_SOURCE_ID os=ubuntu release=noble arches=amd64');

    const before = await snapshotTree(target);
    const again = await runFerry(['import', ...keyring, good.folders[0] ?? '', '--into', target]);
    expect(again.code, describeRun(again)).toBe(0);
    expect(again.stdout).toContain('Wrote 0 file(s)');
    expect(await snapshotTree(target)).toEqual(before);
  });

  it('merges onto an existing mirror made by ferry mirror, keeping what is right and replacing what is not', async () => {
    const target = join(workDir, 'import-merge');
    await cp(treeA, target, { recursive: true });
    const items = good.files.filter((file) => file.role === 'item');
    await rm(join(target, items[0]?.path ?? ''));
    await writeFile(join(target, items[1]?.path ?? ''), 'damaged');
    const kept = join(target, items[2]?.path ?? '');
    const keptBefore = (await snapshotTree(target)).get(items[2]?.path ?? '');
    const run = await runFerry(['import', ...keyring, good.folders[0] ?? '', '--into', target, '--url', 'http://10.0.0.5:8080/']);
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.stdout).toContain('Wrote 2 file(s)');
    expect(run.stdout).toContain('url=http://10.0.0.5:8080/');
    await expectSameTree(target, treeA);
    expect((await snapshotTree(target)).get(items[2]?.path ?? '')).toEqual(keptBefore);
    expect(await sha256OfFile(kept)).toBe(items[2]?.sha256);
  });

  it('takes two volumes in reverse order, and names the missing one when given one alone', async () => {
    const twoVolumes = await buildBundle({
      tree: treeA,
      folders: [join(workDir, 'vol1'), join(workDir, 'vol2')],
      keyringFile: upstream.testKey.keyringFile,
      id: '20261130T054000Z-0000bbbb',
    });
    const [vol1 = '', vol2 = ''] = twoVolumes.folders;
    const alone = join(workDir, 'import-volumes-alone');
    const lone = await runFerry(['import', ...keyring, vol2, '--into', alone]);
    // 4: files still missing, as import.sh says it.
    expect(lone.code, describeRun(lone)).toBe(4);
    expect(lone.stdout).toContain('Missing volume(s): 1 of 2');
    expect(lone.stdout).toContain('metadata was not written');
    expect((await walkFiles(alone)).some((path) => path.startsWith('streams/'))).toBe(false);
    const verifyLone = await runFerry(['verify', ...keyring, vol2]);
    expect(verifyLone.code).toBe(1);
    expect(verifyLone.stdout).toContain('Complete: NO');
    // The other volume completes the tree that the first run began.
    const rest = await runFerry(['import', ...keyring, vol1, '--into', alone]);
    expect(rest.code, describeRun(rest)).toBe(0);
    await expectSameTree(alone, treeA);

    const both = join(workDir, 'import-volumes-both');
    const reversed = await runFerry(['import', ...keyring, vol2, vol1, '--into', both]);
    expect(reversed.code, describeRun(reversed)).toBe(0);
    await expectSameTree(both, treeA);
  });

  it('completes after kill -9 at random moments, and never leaves a partial file at a final path', async () => {
    const target = join(workDir, 'import-killed');
    const listed = new Map(good.files.map((file) => [file.path, file]));
    // Kill moments spread over a whole import's duration, measured here.
    const started = Date.now();
    expect((await runFerry(['import', ...keyring, good.folders[0] ?? '', '--into', join(workDir, 'import-timed')])).code).toBe(0);
    const duration = Date.now() - started;
    let interrupted = 0;
    for (let round = 0; round < 6; round += 1) {
      const child = spawnFerry(['import', ...keyring, good.folders[0] ?? '', '--into', target]);
      const finished = collect(child);
      await sleep(Math.floor(duration * (0.2 + Math.random() * 0.8)));
      child.kill('SIGKILL');
      if ((await finished).signal === 'SIGKILL') interrupted += 1;
      for (const path of await walkFiles(target)) {
        if (path.endsWith('.partial')) continue;
        const file = listed.get(path);
        expect(file, `${path} is not a file of the bundle`).toBeDefined();
        expect(await sha256OfFile(join(target, path)), `round ${round}: ${path}`).toBe(file?.sha256);
      }
    }
    expect(interrupted, 'no round was killed before it ended').toBeGreaterThan(0);
    const rerun = await runFerry(['import', ...keyring, good.folders[0] ?? '', '--into', target]);
    expect(rerun.code, describeRun(rerun)).toBe(0);
    await expectSameTree(target, treeA);
  });

  it('imports an incremental bundle on top of the previous import, taking what the site holds from the tree', async () => {
    const base = join(workDir, 'import-base');
    expect((await runFerry(['import', ...keyring, good.folders[0] ?? '', '--into', base])).code).toBe(0);
    // Upstream publishes one more version; the online side mirrors it again.
    const { generateStream } = await import('../../support/stream-generator.js');
    await generateStream(upstream.stream.baseDir, {
      contents: ['ubuntu'], releases: ['jammy', 'noble'], arches: ['amd64'], versions: 3,
      payloadSizes: { squashfs: 96 * KIB + 5, 'boot-initrd': 24 * KIB, 'boot-kernel': 8 * KIB, manifest: 1 * KIB },
      signingKey: upstream.testKey.key,
    });
    const treeB = join(workDir, 'tree-b');
    await cp(treeA, treeB, { recursive: true });
    const mirrored = await runFerry(['mirror', '--keyring', upstream.testKey.keyringFile, upstream.source, treeB]);
    expect(mirrored.code, describeRun(mirrored)).toBe(0);
    const atSite = new Set(good.files.map((file) => file.sha256));
    const incremental = await buildBundle({
      tree: treeB,
      folders: [join(workDir, 'usb-incremental')],
      keyringFile: upstream.testKey.keyringFile,
      id: '20261201T054000Z-0000cccc',
      incremental: { base: good.id, omit: (file) => file.role === 'item' && atSite.has(file.sha256) },
    });
    const manifest = await readManifest(incremental.dirs[0] ?? '');
    expect(manifest.blobs.length).toBeLessThan(new Set(incremental.files.map((file) => file.sha256)).size);
    const verified = await runFerry(['verify', ...keyring, incremental.folders[0] ?? '']);
    expect(verified.code, describeRun(verified)).toBe(0);
    expect(verified.stdout).toMatch(/\d+ blob\(s\) are not carried: the site holds them/);
    const run = await runFerry(['import', ...keyring, incremental.folders[0] ?? '', '--into', base]);
    expect(run.code, describeRun(run)).toBe(0);
    await expectSameTree(base, treeB);

    // On an empty target the same bundle cannot complete: it names what the site should have held.
    const empty = join(workDir, 'import-incremental-empty');
    const refused = await runFerry(['import', ...keyring, incremental.folders[0] ?? '', '--into', empty]);
    expect(refused.code).toBe(4);
    expect(refused.stdout).toContain(`expected at the site (base site ${good.id})`);
  });

  it('prunes only regular files no published metadata lists, never metadata nor state', async () => {
    const target = join(workDir, 'import-prune');
    await cp(treeA, target, { recursive: true });
    await mkdir(join(target, 'server', 'stale'), { recursive: true });
    await writeFile(join(target, 'server', 'stale', 'old.img'), 'old');
    await writeFile(join(target, 'streams', 'v1', 'keep-me.json'), '{}');
    const run = await runFerry(['import', ...keyring, good.folders[0] ?? '', '--into', target, '--prune']);
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.stdout).toContain('pruned server/stale/old.img');
    const files = await walkFiles(target, { includeState: true });
    expect(files).not.toContain('server/stale/old.img');
    expect(files).toContain('streams/v1/keep-me.json');
    expect(files.some((path) => path.startsWith('.ferry/'))).toBe(true);
  });
});

describe('ferry import and links', () => {
  it('never writes through a link on the way, nor prunes through one', async () => {
    const outside = join(workDir, 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'precious.txt'), 'keep');
    const target = join(workDir, 'import-linked');
    await mkdir(target, { recursive: true });
    const firstFolder = good.files.find((file) => file.role === 'item')?.path.split('/')[0] ?? '';
    await symlink(outside, join(target, firstFolder));
    const run = await runFerry(['import', ...keyring, good.folders[0] ?? '', '--into', target]);
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toContain('FERRY_PATH_BLOCKED');
    expect((await walkFiles(outside)).sort()).toEqual(['precious.txt']);

    // With the way clear, --prune leaves links (and what they point at) alone.
    await rm(join(target, firstFolder));
    await symlink(join(outside, 'precious.txt'), join(target, 'link-to-outside'));
    const pruned = await runFerry(['import', ...keyring, good.folders[0] ?? '', '--into', target, '--prune']);
    expect(pruned.code, describeRun(pruned)).toBe(0);
    expect(await readFile(join(outside, 'precious.txt'), 'utf8')).toBe('keep');
    expect(await readFile(join(target, 'link-to-outside'), 'utf8')).toBe('keep');
  });
});

describe('ferry receipt', () => {
  it('hashes what the tree publishes and holds, and the receipt parses', async () => {
    const out = join(workDir, 'receipt.json');
    const run = await runFerry(['receipt', treeA, '--out', out, '--site', 'dc1']);
    expect(run.code, describeRun(run)).toBe(0);
    const receipt = parseReceipt(await readFile(out, 'utf8'), out);
    expect(receipt.site).toBe('dc1');
    const items = good.files.filter((file) => file.role === 'item');
    expect(receipt.blobs.map((blob) => blob.sha256).sort()).toEqual([...new Set(items.map((file) => file.sha256))].sort());
    expect(receipt.metadata.map((file) => file.path)).toContain('streams/v1/index.sjson');
    expect(await walkFiles(workDir).then((paths) => paths.filter((path) => path.endsWith('receipt.json.partial')))).toEqual([]);
  });
});

describe('ferry serve of a bundle', () => {
  it('serves the tree from blobs so that ferry mirror mirrors it with every signature and hash checked; traversal is refused', async () => {
    const served = await startFerryServe([good.folders[0] ?? '', '--port', '0', ...keyring]);
    let run;
    try {
      expect(served.bootSourceUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      run = await runFerry(['mirror', '--keyring', upstream.testKey.keyringFile, served.bootSourceUrl, join(workDir, 'from-serve')]);
      // A blob replaced by a link leaving the bundle is never followed: the file is refused, not served.
      const linked = itemBlob(good, 2);
      const linkedBlob = join(good.dirs[0] ?? '', blobFilePath(linked.sha256));
      await rename(linkedBlob, `${linkedBlob}.moved`);
      await symlink('/etc/passwd', linkedBlob);
      try {
        const response = await rawRequest(served.baseUrl, `/${linked.path}`);
        expect(response.status).toBe(500);
        expect(response.body.toString()).not.toContain('root:');
      } finally {
        await rm(linkedBlob);
        await rename(`${linkedBlob}.moved`, linkedBlob);
      }
      for (const target of ['/../bundle.json', '/%2e%2e/bundle.json', '/..%2fbundle.json', '/bundle.json', `/${blobFilePath(itemBlob(good).sha256)}`, '/FERRY/']) {
        const response = await rawRequest(served.baseUrl, target);
        expect([400, 403, 404], target).toContain(response.status);
      }
    } finally {
      await served.stop();
    }
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.stderr + run.stdout).toMatch(/Verified \d+ signed metadata file/);
    // Upstream has moved on since (the incremental test); the served bundle is tree A's.
    await expectSameTree(join(workDir, 'from-serve'), treeA);
  });
});
