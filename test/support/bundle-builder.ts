import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BUNDLE_FILES,
  BUNDLES_FOLDER,
  blobStoragePaths,
  formatChecksums,
  parseBundleManifest,
  type BundleBlob,
  type BundleFile,
  type BundleManifest,
} from '../../src-main/media/bundle/manifest.js';
import { sha256OfFile, walkFiles } from '../integration/mirror/helpers.js';

// Test bundles, not the exporter: the fields of bundle.json no test varies, `buildBundle` (a mirror
// tree made by `ferry mirror` laid out as a bundle, docs/bundle.md, with the format's own names and
// schema), and `writeManifest`/`readManifest`, so the offline side and import.sh can be tested
// apart from `ferry export`, and hostile bundles made by editing one.

/** The fields of a test bundle.json that no test varies: format, tool, source, metadata mode, no signatures or keyrings. */
export const MANIFEST_HEADER = {
  format: 'stream-ferry-bundle',
  formatVersion: 1,
  created: '2026-11-30T05:40:00.000Z',
  tool: { name: 'stream-ferry', version: '0.1.0' },
  source: { url: 'http://127.0.0.1:1/', indexPath: 'streams/v1/index.sjson' },
  metadataMode: 'verbatim',
  signatures: [],
  keyrings: [],
} as const satisfies Partial<BundleManifest>;

export interface BuiltBundle {
  id: string;
  /** The bundle directory of each volume (`<folder>/FERRY/<id>`), volume 1 first. */
  dirs: string[];
  /** The folder of each volume (what an operator names: the drive). */
  folders: string[];
  files: BundleFile[];
}

export interface BuildOptions {
  /** A mirror tree (streams/v1/ and the items). */
  tree: string;
  /** Volume folders; the blobs are dealt out round-robin, one volume per folder. */
  folders: string[];
  keyringFile: string;
  id?: string;
  /** Blobs larger than this are split into parts of this size. */
  partSize?: number;
  /** Blobs an incremental bundle does not carry (the site holds them), with its base. */
  incremental?: { base: string; omit: (file: BundleFile) => boolean };
}

export async function buildBundle(options: BuildOptions): Promise<BuiltBundle> {
  const id = options.id ?? '20261130T054000Z-0badc0de';
  const files: BundleFile[] = [];
  for (const path of await walkFiles(options.tree)) {
    const bytes = await readFile(join(options.tree, path));
    files.push({ path, size: bytes.length, sha256: await sha256OfFile(join(options.tree, path)), role: path.startsWith('streams/v1/') ? 'metadata' : 'item' });
  }
  const source = new Map(files.map((file) => [file.sha256, file.path]));
  const carried = [...source.keys()].filter((sha256) => options.incremental === undefined || !files.some((file) => file.sha256 === sha256 && options.incremental?.omit(file) === true));
  const keyringName = 'keyrings/test-keyring.gpg';
  const keyringSha = await sha256OfFile(options.keyringFile);
  const dirs: string[] = [];
  const volumeBlobs: BundleBlob[][] = options.folders.map(() => []);
  carried.sort().forEach((sha256, index) => {
    const size = files.find((file) => file.sha256 === sha256)?.size ?? 0;
    const partSize = options.partSize;
    const blob: BundleBlob =
      partSize !== undefined && size > partSize
        ? { sha256, size, parts: Array.from({ length: Math.ceil(size / partSize) }, (_, n) => ({ size: Math.min(partSize, size - n * partSize), sha256: '' })) }
        : { sha256, size };
    // Metadata goes on every volume (each volume verifies on its own, signatures first); data is dealt out.
    const metadata = files.some((file) => file.sha256 === sha256 && file.role === 'metadata');
    if (metadata) for (const list of volumeBlobs) list.push(structuredClone(blob));
    else volumeBlobs[index % options.folders.length]?.push(blob);
  });
  for (const [index, folder] of options.folders.entries()) {
    const dir = join(folder, BUNDLES_FOLDER, id);
    dirs.push(dir);
    await mkdir(join(dir, 'keyrings'), { recursive: true });
    await copyFile(options.keyringFile, join(dir, keyringName));
    const blobs = volumeBlobs[index] ?? [];
    for (const blob of blobs) {
      const bytes = await readFile(join(options.tree, source.get(blob.sha256) ?? ''));
      let offset = 0;
      for (const part of blob.parts ?? []) {
        part.sha256 = createHash('sha256').update(bytes.subarray(offset, offset + part.size)).digest('hex');
        offset += part.size;
      }
      offset = 0;
      for (const stored of blobStoragePaths(blob)) {
        await mkdir(join(dir, stored.path, '..'), { recursive: true });
        await writeFile(join(dir, stored.path), bytes.subarray(offset, offset + stored.size));
        offset += stored.size;
      }
    }
    const manifest: BundleManifest = {
      ...MANIFEST_HEADER,
      id,
      keyrings: [{ file: keyringName, sha256: keyringSha, fingerprints: [] }],
      selection: [],
      max: null,
      site: null,
      base: options.incremental === undefined ? null : { kind: 'site', id: options.incremental.base },
      volume: { index: index + 1, count: options.folders.length },
      files,
      blobs,
      volumes: volumeBlobs.map((list, n) => ({ index: n + 1, blobs: list.length, bytes: list.reduce((sum, blob) => sum + blob.size, 0) })),
      signature: null,
    };
    await writeManifest(dir, manifest);
  }
  return { id, dirs, folders: options.folders, files };
}

/** Writes bundle.json (checked by the format's own parser first, unless `check: false` for a hostile one) and the matching SHA256SUMS. */
export async function writeManifest(dir: string, manifest: BundleManifest, options: { check?: boolean } = {}): Promise<void> {
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  if (options.check !== false) parseBundleManifest(text, 'bundle-builder');
  await writeFile(join(dir, BUNDLE_FILES.checksums), formatChecksums(manifest.blobs.flatMap(blobStoragePaths)));
  await writeFile(join(dir, BUNDLE_FILES.manifest), text);
}

export async function readManifest(dir: string): Promise<BundleManifest> {
  return JSON.parse(await readFile(join(dir, BUNDLE_FILES.manifest), 'utf8')) as BundleManifest;
}
