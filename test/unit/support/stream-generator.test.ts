import { createHash } from 'node:crypto';
import { readdir, readFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyClearsigned } from '../../../src-main/pgp/clearsigned.js';
import { loadKeyring, type Keyring } from '../../../src-main/pgp/keyring.js';
import { createSigningKey, type SigningKey } from '../../../src-main/pgp/sign.js';
import { expectFerryError } from '../../support/expect-ferry-error.js';
import { generateStream, tamperFile, type GeneratedStream } from '../../support/stream-generator.js';

const SAMPLE_DIR = new URL('../../fixtures/maas-stable-sample/', import.meta.url);
const UBUNTU_ID = 'com.ubuntu.maas:stable:v3:download';
const BOOTLOADER_ID = 'com.ubuntu.maas:stable:1:bootloader-download';
const CENTOS_ID = 'com.ubuntu.maas:stable:centos-bases-download';

interface Item {
  ftype: string;
  path: string;
  sha256: string;
  size: number;
  [key: string]: unknown;
}
interface Product {
  versions: Record<string, { items: Record<string, Item> }>;
  [key: string]: unknown;
}
interface ProductsDocument {
  content_id: string;
  products: Record<string, Product>;
  [key: string]: unknown;
}
interface IndexDocument {
  format: string;
  index: Record<string, { path: string; products: string[]; [key: string]: unknown }>;
  updated: string;
}

let workDir: string;
let publisher: SigningKey;
let keyring: Keyring;
let stream: GeneratedStream;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ferry-generator-'));
  publisher = await createSigningKey({ name: 'Test Stream Publisher', email: 'streams@example.test' });
  keyring = await loadKeyring([{ name: 'publisher.gpg', bytes: publisher.publicKeyBinary }]);
  stream = await generateStream(join(workDir, 'default'), { signingKey: publisher, kernels: 3, arches: ['amd64', 'arm64'] });
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

const readText = (dir: string, relativePath: string): Promise<string> => readFile(join(dir, relativePath), 'utf8');
const readJson = async <T>(dir: string, relativePath: string): Promise<T> => JSON.parse(await readText(dir, relativePath)) as T;
const readSample = async <T>(name: string): Promise<T> => JSON.parse(await readFile(new URL(name, SAMPLE_DIR), 'utf8')) as T;
const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const productsFile = (contentId: string): string => `streams/v1/${contentId}.json`;

function allItems(document: ProductsDocument): Array<{ productName: string; versionName: string; itemName: string; item: Item }> {
  return Object.entries(document.products).flatMap(([productName, product]) =>
    Object.entries(product.versions).flatMap(([versionName, version]) =>
      Object.entries(version.items).map(([itemName, item]) => ({ productName, versionName, itemName, item })),
    ),
  );
}

/** Keys of a product besides its versions, and of each item by item name: the "shape" to compare. */
function shapeOf(document: ProductsDocument): { top: string[]; product: string[]; items: Record<string, string[]> } {
  const [firstProduct] = Object.values(document.products);
  const items: Record<string, string[]> = {};
  for (const { itemName, item } of allItems(document)) items[itemName] = Object.keys(item).sort();
  return { top: Object.keys(document).sort(), product: Object.keys(firstProduct ?? {}).sort(), items };
}

describe('generateStream: layout and shapes', () => {
  it('writes the index and every products file, both plain and clearsigned', async () => {
    expect(stream.indexPath).toBe('streams/v1/index.sjson');
    expect(stream.contentIds).toEqual([BOOTLOADER_ID, CENTOS_ID, UBUNTU_ID]);
    const listed = await readdir(join(stream.baseDir, 'streams/v1'));
    expect(listed.sort()).toEqual(stream.metadataFiles.map((file) => file.slice('streams/v1/'.length)).sort());
    expect(listed).toHaveLength(8);
    for (const file of stream.metadataFiles.filter((name) => name.endsWith('.json'))) {
      await expect(readJson<object>(stream.baseDir, file)).resolves.toBeTypeOf('object');
    }
  });

  it('has the index shape of images.maas.io, with .json paths in index.json and .sjson paths in index.sjson', async () => {
    const sample = await readSample<IndexDocument>('simplestreams_index.json');
    const index = await readJson<IndexDocument>(stream.baseDir, 'streams/v1/index.json');
    expect(Object.keys(index).sort()).toEqual(Object.keys(sample).sort());
    expect(Object.keys(index.index)).toEqual(Object.keys(sample.index));
    const sampleEntry = sample.index[UBUNTU_ID];
    expect(Object.keys(index.index[UBUNTU_ID] ?? {}).sort()).toEqual(Object.keys(sampleEntry ?? {}).sort());
    expect(index.index[UBUNTU_ID]?.path).toBe(`streams/v1/${UBUNTU_ID}.json`);
    expect(index.updated).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);

    const signedIndex = await verifyClearsigned(await readText(stream.baseDir, 'streams/v1/index.sjson'), keyring, 'index.sjson');
    const signedEntries = (JSON.parse(signedIndex.body) as IndexDocument).index;
    for (const contentId of stream.contentIds) {
      expect(signedEntries[contentId]?.path).toBe(`streams/v1/${contentId}.sjson`);
      expect(signedEntries[contentId]?.products).toEqual(index.index[contentId]?.products);
    }
  });

  it('lists in the index exactly the products of each products file', async () => {
    const index = await readJson<IndexDocument>(stream.baseDir, 'streams/v1/index.json');
    for (const contentId of stream.contentIds) {
      const document = await readJson<ProductsDocument>(stream.baseDir, productsFile(contentId));
      expect(document.content_id).toBe(contentId);
      expect(index.index[contentId]?.products).toEqual(Object.keys(document.products).sort());
    }
    expect(stream.productNames).toHaveLength(5 + 2 + 2 * 2 * 3);
  });

  it.each([
    [UBUNTU_ID, 'simplestreams_ubuntu.json'],
    [BOOTLOADER_ID, 'simplestreams_bootloaders.json'],
    [CENTOS_ID, 'simplestreams_centos.json'],
  ])('gives %s the same keys at every level as the real sample', async (contentId, sampleName) => {
    const sample = shapeOf(await readSample<ProductsDocument>(sampleName));
    const generated = shapeOf(await readJson<ProductsDocument>(stream.baseDir, productsFile(contentId)));
    expect(generated.top).toEqual(sample.top);
    expect(generated.product).toEqual(sample.product);
    expect(Object.keys(generated.items).sort()).toEqual(Object.keys(sample.items).sort());
    for (const [itemName, keys] of Object.entries(sample.items)) expect(generated.items[itemName]).toEqual(keys);
  });

  it('writes the JSON the way upstream does: one-space indent, sorted keys, final newline', async () => {
    const text = await readText(stream.baseDir, productsFile(CENTOS_ID));
    const document = JSON.parse(text) as ProductsDocument;
    expect(text).toBe(`${JSON.stringify(document, null, 1)}\n`);
    const productKeys = Object.keys(Object.values(document.products)[0] ?? {});
    expect(productKeys).toEqual([...productKeys].sort());
  });

  it('names Ubuntu products and kernel paths as upstream, sharing one squashfs per release/arch/version', async () => {
    const document = await readJson<ProductsDocument>(stream.baseDir, productsFile(UBUNTU_ID));
    expect(Object.keys(document.products)).toContain('com.ubuntu.maas.stable:v3:boot:24.04:arm64:hwe-24.04-edge');
    const items = allItems(document);
    for (const { productName, versionName, itemName, item } of items) {
      const product = document.products[productName];
      const prefix = `${String(product?.['release'])}/${String(product?.['arch'])}/${versionName}`;
      expect(versionName).toMatch(/^\d{8}$/);
      if (itemName === 'squashfs') expect(item.path).toBe(`${prefix}/squashfs`);
      if (itemName === 'manifest') expect(item.path).toBe(`${prefix}/squashfs.manifest`);
      if (itemName === 'boot-kernel') expect(item.path).toBe(`${prefix}/${String(product?.['subarch'])}/${String(product?.['kflavor'])}/boot-kernel`);
    }
    const squashfsOfNoble = items.filter(({ item }) => item.path === `noble/amd64/${stream.versions[0]}/squashfs`);
    expect(squashfsOfNoble.map(({ productName }) => productName).sort()).toEqual([
      'com.ubuntu.maas.stable:v3:boot:24.04:amd64:ga-24.04',
      'com.ubuntu.maas.stable:v3:boot:24.04:amd64:hwe-24.04',
      'com.ubuntu.maas.stable:v3:boot:24.04:amd64:hwe-24.04-edge',
    ]);
    expect(new Set(squashfsOfNoble.map(({ item }) => item.sha256)).size).toBe(1);
    expect(stream.files.filter((file) => file.path === `noble/amd64/${stream.versions[0]}/squashfs`)).toHaveLength(1);
  });

  it('gives GA kernels the subarches list of the real sample', async () => {
    const sample = await readSample<ProductsDocument>('simplestreams_ubuntu.json');
    const document = await readJson<ProductsDocument>(stream.baseDir, productsFile(UBUNTU_ID));
    for (const name of ['com.ubuntu.maas.stable:v3:boot:22.04:amd64:ga-22.04', 'com.ubuntu.maas.stable:v3:boot:24.04:amd64:ga-24.04']) {
      expect(document.products[name]?.['subarches']).toBe(sample.products[name]?.['subarches']);
      expect(document.products[name]?.['support_esm_eol']).toBe(sample.products[name]?.['support_esm_eol']);
    }
  });

  it('inserts a non-generic kernel flavour before "-edge" in product names, as upstream', async () => {
    const generated = await generateStream(join(workDir, 'flavours'), { contents: ['ubuntu'], releases: ['noble'], kernels: 6, payloads: 'none' });
    expect(generated.productNames).toEqual([
      'com.ubuntu.maas.stable:v3:boot:24.04:amd64:ga-24.04',
      'com.ubuntu.maas.stable:v3:boot:24.04:amd64:ga-24.04-lowlatency',
      'com.ubuntu.maas.stable:v3:boot:24.04:amd64:hwe-24.04',
      'com.ubuntu.maas.stable:v3:boot:24.04:amd64:hwe-24.04-edge',
      'com.ubuntu.maas.stable:v3:boot:24.04:amd64:hwe-24.04-lowlatency',
      'com.ubuntu.maas.stable:v3:boot:24.04:amd64:hwe-24.04-lowlatency-edge',
    ]);
    const document = await readJson<ProductsDocument>(generated.baseDir, productsFile(UBUNTU_ID));
    const edge = document.products['com.ubuntu.maas.stable:v3:boot:24.04:amd64:hwe-24.04-lowlatency-edge'];
    expect(edge?.['subarch']).toBe('hwe-24.04-edge');
    expect(edge?.versions[generated.versions[0] ?? '']?.items['boot-kernel']?.['kpackage']).toBe('linux-lowlatency-hwe-24.04-edge');
  });

  it('publishes the candidate label and a chosen subset of content ids', async () => {
    const generated = await generateStream(join(workDir, 'candidate'), { label: 'candidate', contents: ['bootloaders'], payloads: 'none' });
    expect(generated.contentIds).toEqual(['com.ubuntu.maas:candidate:1:bootloader-download']);
    expect(generated.productNames).toContain('com.ubuntu.maas.candidate:1:pxelinux:pxe:i386');
    const document = await readJson<ProductsDocument>(generated.baseDir, productsFile('com.ubuntu.maas:candidate:1:bootloader-download'));
    expect(Object.values(document.products).every((product) => product['label'] === 'candidate')).toBe(true);
  });
});

describe('generateStream: signatures and payloads', () => {
  it('signs every products file so that it verifies with the key, and the signed body is the .json file', async () => {
    for (const contentId of stream.contentIds) {
      const signed = await readText(stream.baseDir, `streams/v1/${contentId}.sjson`);
      const verified = await verifyClearsigned(signed, keyring, contentId);
      expect(verified.signerFingerprint).toBe(publisher.fingerprint);
      expect(verified.body).toBe(await readText(stream.baseDir, productsFile(contentId)));
    }
    expect(stream.signingKey?.fingerprint).toBe(publisher.fingerprint);
  });

  it('writes payload files whose size and sha256 match both the returned list and the metadata', async () => {
    const listed = new Map(stream.files.map((file) => [file.path, file]));
    for (const file of stream.files) {
      const bytes = await readFile(join(stream.baseDir, file.path));
      expect(bytes.length).toBe(file.size);
      expect(sha256Hex(bytes)).toBe(file.sha256);
    }
    for (const contentId of stream.contentIds) {
      for (const { item } of allItems(await readJson<ProductsDocument>(stream.baseDir, productsFile(contentId)))) {
        expect(listed.get(item.path)).toMatchObject({ size: item.size, sha256: item.sha256, ftype: item.ftype });
      }
    }
    expect(stream.totalBytes).toBe(stream.files.reduce((total, file) => total + file.size, 0));
    expect(new Set(stream.files.map((file) => file.sha256)).size).toBe(stream.files.length);
  });

  it('makes payloads that depend only on seed and path, and large files that are not repetitive', async () => {
    const options = { contents: ['bootloaders'] as const, versions: 1, payloadSizes: { 'archive.tar.xz': 3 * 1024 * 1024 + 17 } };
    const first = await generateStream(join(workDir, 'seed-a'), { ...options, seed: 'alpha' });
    const again = await generateStream(join(workDir, 'seed-a-again'), { ...options, seed: 'alpha' });
    const otherSeed = await generateStream(join(workDir, 'seed-b'), { ...options, seed: 'beta' });
    expect(again.files).toEqual(first.files);
    expect(otherSeed.files.map((file) => file.sha256)).not.toEqual(first.files.map((file) => file.sha256));
    const [someFile] = first.files;
    const bytes = await readFile(join(first.baseDir, someFile?.path ?? ''));
    const mebibyte = 1024 * 1024;
    expect(bytes.subarray(0, mebibyte).equals(bytes.subarray(mebibyte, 2 * mebibyte))).toBe(false);
  });

  it('writes metadata only, with deterministic checksums, for a catalog of 2,500 products × 2 versions in seconds', async () => {
    const started = performance.now();
    const catalog = await generateStream(join(workDir, 'catalog'), {
      payloads: 'none',
      contents: ['ubuntu'],
      releases: ['xenial', 'bionic', 'focal', 'jammy', 'noble'],
      arches: ['amd64', 'arm64', 'ppc64el', 's390x'],
      kernels: 125,
      signingKey: publisher,
    });
    const seconds = (performance.now() - started) / 1000;
    expect(catalog.productNames).toHaveLength(2500);
    const document = await readJson<ProductsDocument>(catalog.baseDir, productsFile(UBUNTU_ID));
    expect(allItems(document)).toHaveLength(2500 * 2 * 4);
    await expect(stat(join(catalog.baseDir, catalog.files[0]?.path ?? 'missing'))).rejects.toThrow();
    expect(catalog.files.every((file) => /^[0-9a-f]{64}$/.test(file.sha256))).toBe(true);
    expect(seconds).toBeLessThan(10);
  });
});

describe('generateStream: running again on the same directory', () => {
  it('adds a version, keeps existing payload files untouched and re-signs the metadata', async () => {
    const dir = join(workDir, 'growing');
    const options = { contents: ['ubuntu'] as const, releases: ['noble'], signingKey: publisher };
    const before = await generateStream(dir, { ...options, versions: 2 });
    const oldFile = before.files.find((file) => file.ftype === 'squashfs');
    const oldMtime = (await stat(join(dir, oldFile?.path ?? ''))).mtimeMs;

    const after = await generateStream(dir, { ...options, versions: 3 });
    expect(after.versions.slice(0, 2)).toEqual(before.versions);
    expect(after.versions).toHaveLength(3);
    expect(after.files.find((file) => file.path === oldFile?.path)).toEqual(oldFile);
    expect((await stat(join(dir, oldFile?.path ?? ''))).mtimeMs).toBe(oldMtime);
    const newVersion = after.versions[2] ?? '';
    await expect(stat(join(dir, `noble/amd64/${newVersion}/squashfs`))).resolves.toMatchObject({ size: 12 * 1024 });

    const verified = await verifyClearsigned(await readText(dir, `streams/v1/${UBUNTU_ID}.sjson`), keyring, UBUNTU_ID);
    const product = (JSON.parse(verified.body) as ProductsDocument).products['com.ubuntu.maas.stable:v3:boot:24.04:amd64:ga-24.04'];
    expect(Object.keys(product?.versions ?? {})).toEqual(after.versions);
  });

  it('publishes only .json without a key, removing .sjson files left by a signed run', async () => {
    const dir = join(workDir, 'unsigning');
    await generateStream(dir, { payloads: 'none', signingKey: publisher });
    const unsigned = await generateStream(dir, { payloads: 'none' });
    expect(unsigned.indexPath).toBe('streams/v1/index.json');
    expect(unsigned.signingKey).toBeUndefined();
    expect((await readdir(join(dir, 'streams/v1'))).filter((name) => name.endsWith('.sjson'))).toEqual([]);
  });
});

describe('tamperFile', () => {
  it('changes a signed products file so that it no longer verifies, yet stays valid JSON', async () => {
    const dir = join(workDir, 'tampered');
    await generateStream(dir, { contents: ['centos'], payloads: 'none', signingKey: publisher });
    const signedPath = `streams/v1/${CENTOS_ID}.sjson`;
    const original = await readText(dir, signedPath);
    await tamperFile(dir, signedPath);
    const tampered = await readText(dir, signedPath);
    expect(tampered).not.toBe(original);
    expect(tampered.length).toBe(original.length);
    const error = await expectFerryError(verifyClearsigned(tampered, keyring, signedPath), 'FERRY_SIG_BAD');
    expect(error.message).toContain(signedPath);
    const body = tampered.slice(tampered.indexOf('{'), tampered.indexOf('-----BEGIN PGP SIGNATURE-----'));
    expect(() => JSON.parse(body) as unknown).not.toThrow();
  });

  it('changes one byte of a payload file, keeping its size', async () => {
    const dir = join(workDir, 'tampered-payload');
    const generated = await generateStream(dir, { contents: ['bootloaders'], versions: 1 });
    const [file] = generated.files;
    await tamperFile(dir, file?.path ?? '');
    const bytes = await readFile(join(dir, file?.path ?? ''));
    expect(bytes.length).toBe(file?.size);
    expect(sha256Hex(bytes)).not.toBe(file?.sha256);
  });
});
