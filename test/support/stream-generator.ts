import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { clearsign, type SigningKey } from '../../src-main/pgp/sign.js';
import { deterministicPayloadSha256, writeDeterministicPayload } from './deterministic-payload.js';

// Writes MAAS-shaped SimpleStreams mirrors (images.maas.io ephemeral-v3 layout, see
// test/fixtures/maas-stable-sample and docs simplestreams.md §1.4) for tests and benchmarks.

export type StreamLabel = 'stable' | 'candidate';
export type StreamContent = 'ubuntu' | 'bootloaders' | 'centos';
export type PayloadFtype = 'boot-kernel' | 'boot-initrd' | 'squashfs' | 'manifest' | 'root-tgz' | 'archive.tar.xz';

export interface UbuntuRelease {
  codename: string;
  /** "24.04" */
  version: string;
  /** "24.04 LTS" */
  title: string;
  /** "Noble Numbat" */
  codenameTitle: string;
  supportEol: string;
  supportEsmEol: string;
}

export interface KernelVariant {
  /** "ga-24.04", "hwe-24.04", "hwe-24.04-edge" */
  subarch: string;
  /** "generic", "lowlatency", ... */
  kflavor: string;
  /** Codename of the release the kernel comes from. */
  krel: string;
}

export interface StreamOptions {
  /** Default 'stable'. */
  label?: StreamLabel;
  /** Which products files to publish. Default: all three. */
  contents?: readonly StreamContent[];
  /** Ubuntu releases, by codename (xenial, bionic, focal, jammy, noble) or described in full. Default: jammy, noble. */
  releases?: ReadonlyArray<string | UbuntuRelease>;
  /** Ubuntu architectures. Default: amd64. Bootloaders and CentOS keep upstream's fixed products. */
  arches?: readonly string[];
  /**
   * Kernels per release: a count, taken in order from GA, HWE and HWE-edge × generic, lowlatency,
   * kvm, … (so 2 500 products is e.g. 5 releases × 4 arches × 125), or explicit variants per codename
   * (releases not listed get the GA generic kernel). Default 1: the GA generic kernel, as upstream.
   */
  kernels?: number | Readonly<Record<string, readonly KernelVariant[]>>;
  /**
   * Ubuntu version names: a count (dates a week apart from 20250615, oldest first, so a larger count
   * adds newer versions and keeps the older ones) or explicit YYYYMMDD names. Bootloader versions
   * are `<name>.0` and CentOS versions `<name>_01`. Default 2.
   */
  versions?: number | readonly string[];
  /** Bytes per file of each ftype; defaults are a few KiB. */
  payloadSizes?: Partial<Record<PayloadFtype, number>>;
  /** 'none' writes metadata only, with made-up (but deterministic) checksums. Default 'write'. */
  payloads?: 'write' | 'none';
  /** Payload bytes are a function of (seed, path). Default 'stream-ferry'. */
  seed?: string;
  /** With a key, every metadata file is also published clearsigned as .sjson; without, only .json. */
  signingKey?: SigningKey;
  /** The `updated` stamps. Default: 08:01:49 UTC on the day after the newest version. */
  updated?: Date;
}

export interface GeneratedFile {
  /** Relative to the mirror base, as in the metadata. */
  path: string;
  size: number;
  sha256: string;
  ftype: PayloadFtype;
}

export interface GeneratedStream {
  baseDir: string;
  label: StreamLabel;
  /** Where a reader starts: streams/v1/index.sjson when signed, otherwise streams/v1/index.json. */
  indexPath: string;
  contentIds: string[];
  /** Every product of every content id, sorted. */
  productNames: string[];
  /** The Ubuntu version names, oldest first. */
  versions: string[];
  /** Every distinct item file (a squashfs shared by several products appears once), sorted by path. */
  files: GeneratedFile[];
  /** Every metadata file written, relative to the base. */
  metadataFiles: string[];
  /** Sum of the sizes of `files`. */
  totalBytes: number;
  signingKey?: { fingerprint: string; publicKeyArmored: string; publicKeyBinary: Uint8Array };
}

const KNOWN_RELEASES: readonly UbuntuRelease[] = [
  release('xenial', '16.04', 'Xenial Xerus', '2021-04-21', '2026-04-23'),
  release('bionic', '18.04', 'Bionic Beaver', '2023-05-31', '2028-04-01'),
  release('focal', '20.04', 'Focal Fossa', '2025-05-29', '2030-04-02'),
  release('jammy', '22.04', 'Jammy Jellyfish', '2027-04-21', '2032-04-21'),
  release('noble', '24.04', 'Noble Numbat', '2029-05-31', '2034-04-25'),
];

const DEFAULT_PAYLOAD_SIZES: Readonly<Record<PayloadFtype, number>> = {
  'boot-kernel': 3 * 1024,
  'boot-initrd': 6 * 1024,
  squashfs: 12 * 1024,
  manifest: 1024,
  'root-tgz': 8 * 1024,
  'archive.tar.xz': 2 * 1024,
};

const KERNEL_FLAVOURS = ['generic', 'lowlatency', 'kvm', 'aws', 'azure', 'gcp'];
const FIRST_VERSION_DATE = Date.UTC(2025, 5, 15);
const DAY_MS = 24 * 60 * 60 * 1000;
const PAYLOAD_CONCURRENCY = 4;

interface BootloaderProduct {
  os: string;
  bootloaderType: string;
  arch: string;
  arches: string;
  items: ReadonlyArray<{ name: string; srcVersion: string }>;
}

// The products images.maas.io publishes (test/fixtures/maas-stable-sample/simplestreams_bootloaders.json).
const BOOTLOADERS: readonly BootloaderProduct[] = [
  {
    os: 'grub-efi-signed',
    bootloaderType: 'uefi',
    arch: 'amd64',
    arches: 'amd64',
    items: [
      { name: 'grub2-signed', srcVersion: '1.187.6+2.06-2ubuntu14.4' },
      { name: 'shim-signed', srcVersion: '1.51.3+15.7-0ubuntu1' },
    ],
  },
  {
    os: 'grub-efi',
    bootloaderType: 'uefi',
    arch: 'arm64',
    arches: 'arm64',
    items: [
      { name: 'grub2-signed', srcVersion: '1.187.6+2.06-2ubuntu14.4' },
      { name: 'shim-signed', srcVersion: '1.51.3+15.7-0ubuntu1' },
    ],
  },
  {
    os: 'grub-ieee1275',
    bootloaderType: 'open-firmware',
    arch: 'ppc64el',
    arches: 'ppc64el,ppc64',
    items: [{ name: 'grub2', srcVersion: '2.02~beta2-36ubuntu3.32' }],
  },
  {
    os: 'pxelinux',
    bootloaderType: 'pxe',
    arch: 'amd64',
    arches: 'amd64, i386',
    items: [{ name: 'syslinux', srcVersion: '3:6.04~git20190206.bf6db5b4+dfsg1-3ubuntu1' }],
  },
  {
    os: 'pxelinux',
    bootloaderType: 'pxe',
    arch: 'i386',
    arches: 'i386,amd64',
    items: [{ name: 'syslinux', srcVersion: '3:6.04~git20190206.bf6db5b4+dfsg1-2' }],
  },
];

const CENTOS_RELEASES = [
  { version: '7.0', release: 'centos70', title: 'CentOS 7', supportEol: '2024-06-30' },
  { version: '8', release: '8', title: 'CentOS 8', supportEol: '2029-05-31' },
] as const;

type JsonValue = string | number | readonly JsonValue[] | { readonly [key: string]: JsonValue };
type JsonObject = { [key: string]: JsonValue };

interface PlannedItem {
  name: string;
  path: string;
  ftype: PayloadFtype;
  /** Item fields besides ftype, path, sha256 and size (kpackage, src_*). */
  extra: Readonly<Record<string, string>>;
}

interface PlannedVersion {
  name: string;
  items: readonly PlannedItem[];
}

interface PlannedProduct {
  name: string;
  fields: Readonly<Record<string, string>>;
  versions: readonly PlannedVersion[];
}

interface PlannedContent {
  contentId: string;
  products: readonly PlannedProduct[];
}

/**
 * Writes (or rewrites) a mirror tree under `dir`. Running it again on the same directory with other
 * options (one more version, say) rewrites and re-signs the metadata and writes only the payload
 * files that are missing or have the wrong size; a file already there with the right size is kept
 * untouched, so its mtime and ETag stay the same.
 */
export async function generateStream(dir: string, options: StreamOptions = {}): Promise<GeneratedStream> {
  const label = options.label ?? 'stable';
  const seed = options.seed ?? 'stream-ferry';
  const versions = versionNames(options.versions ?? 2);
  const updated = rfc2822(options.updated ?? defaultUpdated(versions));
  const contents = planContents(label, versions, options);

  const payloadFiles = distinctPayloadFiles(contents, { ...DEFAULT_PAYLOAD_SIZES, ...options.payloadSizes });
  const files =
    options.payloads === 'none'
      ? payloadFiles.map((file) => ({ ...file, sha256: fakeSha256(seed, file.path, file.size) }))
      : await mapConcurrently(payloadFiles, PAYLOAD_CONCURRENCY, async (file) => ({
          ...file,
          sha256: await ensurePayload(dir, seed, file.path, file.size),
        }));
  const checksums = new Map(files.map((file) => [file.path, file]));

  const metadataFiles = await writeMetadata(dir, contents, checksums, updated, options.signingKey);
  const stream: GeneratedStream = {
    baseDir: dir,
    label,
    indexPath: options.signingKey === undefined ? 'streams/v1/index.json' : 'streams/v1/index.sjson',
    contentIds: contents.map((content) => content.contentId),
    productNames: contents.flatMap((content) => content.products.map((product) => product.name)).sort(compareCodeUnits),
    versions,
    files,
    metadataFiles,
    totalBytes: files.reduce((total, file) => total + file.size, 0),
  };
  if (options.signingKey !== undefined) {
    const { fingerprint, publicKeyArmored, publicKeyBinary } = options.signingKey;
    stream.signingKey = { fingerprint, publicKeyArmored, publicKeyBinary };
  }
  return stream;
}

/**
 * Changes a file under the mirror base without touching its signature or its size. A metadata file
 * (.json/.sjson) gets one digit of its first `updated` stamp changed, so it stays valid JSON and a
 * valid date but no longer matches its signature; any other file gets one byte flipped in the middle.
 */
export async function tamperFile(dir: string, relativePath: string): Promise<void> {
  const filePath = join(dir, relativePath);
  if (/\.s?json$/.test(relativePath)) {
    const text = await readFile(filePath, 'utf8');
    const stamp = /("updated": "[^"]*:\d)(\d)( [+-]\d{4}")/.exec(text);
    if (stamp?.[1] === undefined || stamp[2] === undefined || stamp[3] === undefined) {
      throw new Error(`${relativePath} has no "updated" stamp to change`);
    }
    const changedDigit = String((Number(stamp[2]) + 1) % 10);
    await writeFile(filePath, text.replace(stamp[0], `${stamp[1]}${changedDigit}${stamp[3]}`));
    return;
  }
  const { size } = await stat(filePath);
  if (size === 0) throw new Error(`${relativePath} is empty; there is no byte to change`);
  const handle = await open(filePath, 'r+');
  try {
    const position = Math.floor(size / 2);
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, position);
    byte[0] = (byte[0] ?? 0) ^ 0xff;
    await handle.write(byte, 0, 1, position);
  } finally {
    await handle.close();
  }
}

function planContents(label: StreamLabel, versions: readonly string[], options: StreamOptions): PlannedContent[] {
  const wanted = new Set(options.contents ?? ['ubuntu', 'bootloaders', 'centos']);
  const contents: PlannedContent[] = [];
  if (wanted.has('bootloaders')) {
    contents.push({ contentId: `com.ubuntu.maas:${label}:1:bootloader-download`, products: planBootloaders(label, versions) });
  }
  if (wanted.has('centos')) {
    contents.push({ contentId: `com.ubuntu.maas:${label}:centos-bases-download`, products: planCentos(label, versions) });
  }
  if (wanted.has('ubuntu')) {
    contents.push({ contentId: `com.ubuntu.maas:${label}:v3:download`, products: planUbuntu(label, versions, options) });
  }
  // images.maas.io's index lists content ids in sorted order (it is written with sort_keys).
  return contents.sort((a, b) => compareCodeUnits(a.contentId, b.contentId));
}

function planUbuntu(label: StreamLabel, versions: readonly string[], options: StreamOptions): PlannedProduct[] {
  const releases = (options.releases ?? ['jammy', 'noble']).map(resolveRelease);
  const arches = options.arches ?? ['amd64'];
  const products: PlannedProduct[] = [];
  for (const ubuntu of releases) {
    for (const arch of arches) {
      for (const kernel of kernelsFor(ubuntu, options.kernels ?? 1)) {
        products.push({
          name: `com.ubuntu.maas.${label}:v3:boot:${ubuntu.version}:${arch}:${productSubarch(kernel)}`,
          fields: {
            arch,
            kflavor: kernel.kflavor,
            krel: kernel.krel,
            label,
            os: 'ubuntu',
            release: ubuntu.codename,
            release_codename: ubuntu.codenameTitle,
            release_title: ubuntu.title,
            subarch: kernel.subarch,
            subarches: subarchesFor(ubuntu, kernel),
            support_eol: ubuntu.supportEol,
            support_esm_eol: ubuntu.supportEsmEol,
            version: ubuntu.version,
          },
          versions: versions.map((version): PlannedVersion => {
            // The root filesystem and its manifest are shared by every kernel of the release/arch/version.
            const shared = `${ubuntu.codename}/${arch}/${version}`;
            const kernelDir = `${shared}/${kernel.subarch}/${kernel.kflavor}`;
            const kpackage = kernel.subarch.startsWith('ga-') ? `linux-${kernel.kflavor}` : `linux-${kernel.kflavor}-${kernel.subarch}`;
            return {
              name: version,
              items: [
                { name: 'boot-initrd', path: `${kernelDir}/boot-initrd`, ftype: 'boot-initrd', extra: { kpackage } },
                { name: 'boot-kernel', path: `${kernelDir}/boot-kernel`, ftype: 'boot-kernel', extra: { kpackage } },
                { name: 'manifest', path: `${shared}/squashfs.manifest`, ftype: 'manifest', extra: {} },
                { name: 'squashfs', path: `${shared}/squashfs`, ftype: 'squashfs', extra: {} },
              ],
            };
          }),
        });
      }
    }
  }
  return products;
}

function planBootloaders(label: StreamLabel, versions: readonly string[]): PlannedProduct[] {
  return BOOTLOADERS.map((bootloader) => ({
    name: `com.ubuntu.maas.${label}:1:${bootloader.os}:${bootloader.bootloaderType}:${bootloader.arch}`,
    fields: { arch: bootloader.arch, arches: bootloader.arches, 'bootloader-type': bootloader.bootloaderType, label, os: bootloader.os },
    versions: versions.map((version): PlannedVersion => {
      const versionName = `${version}.0`;
      return {
        name: versionName,
        items: bootloader.items.map((item) => ({
          name: item.name,
          path: `bootloaders/${bootloader.bootloaderType}/${bootloader.arch}/${versionName}/${item.name}.tar.xz`,
          ftype: 'archive.tar.xz',
          extra: { src_package: item.name, src_release: 'jammy', src_version: item.srcVersion },
        })),
      };
    }),
  }));
}

function planCentos(label: StreamLabel, versions: readonly string[]): PlannedProduct[] {
  return CENTOS_RELEASES.map((centos) => ({
    name: `com.ubuntu.maas.${label}:centos-bases:${centos.version}:amd64`,
    fields: {
      arch: 'amd64',
      label,
      os: 'centos',
      release: centos.release,
      release_title: centos.title,
      subarch: 'generic',
      subarches: 'generic',
      support_eol: centos.supportEol,
      version: centos.version,
    },
    versions: versions.map((version): PlannedVersion => {
      const versionName = `${version}_01`;
      const base = `centos/${centos.release}/amd64/${versionName}`;
      return {
        name: versionName,
        items: [
          { name: 'manifest', path: `${base}/root-tgz.manifest`, ftype: 'manifest', extra: {} },
          { name: 'root-tgz', path: `${base}/root-tgz`, ftype: 'root-tgz', extra: {} },
        ],
      };
    }),
  }));
}

function kernelsFor(ubuntu: UbuntuRelease, kernels: NonNullable<StreamOptions['kernels']>): readonly KernelVariant[] {
  const gaGeneric: KernelVariant = { subarch: `ga-${ubuntu.version}`, kflavor: 'generic', krel: ubuntu.codename };
  if (typeof kernels !== 'number') return kernels[ubuntu.codename] ?? [gaGeneric];
  const subarchKinds = [`ga-${ubuntu.version}`, `hwe-${ubuntu.version}`, `hwe-${ubuntu.version}-edge`];
  return Array.from({ length: kernels }, (_, index) => {
    const flavourIndex = Math.floor(index / subarchKinds.length);
    return {
      subarch: subarchKinds[index % subarchKinds.length] ?? gaGeneric.subarch,
      kflavor: KERNEL_FLAVOURS[flavourIndex] ?? `flavour${flavourIndex}`,
      krel: ubuntu.codename,
    };
  });
}

/** Upstream appends a non-generic flavour to the subarch in product names, keeping "-edge" last. */
function productSubarch(kernel: KernelVariant): string {
  if (kernel.kflavor === 'generic') return kernel.subarch;
  const edge = kernel.subarch.endsWith('-edge');
  const base = edge ? kernel.subarch.slice(0, -'-edge'.length) : kernel.subarch;
  return `${base}-${kernel.kflavor}${edge ? '-edge' : ''}`;
}

/** As upstream: generic, the old hwe letters, then every ga-YY.MM up to the release, then the kernel's own subarch. */
function subarchesFor(ubuntu: UbuntuRelease, kernel: KernelVariant): string {
  const names = ['generic', ...'pqrstuvw'.split('').map((letter) => `hwe-${letter}`)];
  const [releaseYear = 16] = ubuntu.version.split('.').map(Number);
  for (let year = 16; year <= releaseYear; year += 1) {
    for (const month of ['04', '10']) {
      const version = `${year}.${month}`;
      if (compareCodeUnits(version, ubuntu.version) <= 0) names.push(`ga-${version}`);
    }
  }
  if (!names.includes(kernel.subarch)) names.push(kernel.subarch);
  return names.join(',');
}

function resolveRelease(wanted: string | UbuntuRelease): UbuntuRelease {
  if (typeof wanted !== 'string') return wanted;
  const known = KNOWN_RELEASES.find((candidate) => candidate.codename === wanted);
  if (known === undefined) {
    throw new Error(`unknown release ${wanted}: use one of ${KNOWN_RELEASES.map((r) => r.codename).join(', ')} or describe it in full`);
  }
  return known;
}

function release(codename: string, version: string, codenameTitle: string, supportEol: string, supportEsmEol: string): UbuntuRelease {
  return { codename, version, title: `${version} LTS`, codenameTitle, supportEol, supportEsmEol };
}

function versionNames(versions: number | readonly string[]): string[] {
  if (typeof versions !== 'number') return [...versions].sort(compareCodeUnits);
  return Array.from({ length: versions }, (_, index) => yyyymmdd(new Date(FIRST_VERSION_DATE + index * 7 * DAY_MS)));
}

function distinctPayloadFiles(contents: readonly PlannedContent[], sizes: Readonly<Record<PayloadFtype, number>>): Array<Omit<GeneratedFile, 'sha256'>> {
  const byPath = new Map<string, Omit<GeneratedFile, 'sha256'>>();
  for (const content of contents) {
    for (const product of content.products) {
      for (const version of product.versions) {
        for (const item of version.items) byPath.set(item.path, { path: item.path, size: sizes[item.ftype], ftype: item.ftype });
      }
    }
  }
  return [...byPath.values()].sort((a, b) => compareCodeUnits(a.path, b.path));
}

async function ensurePayload(dir: string, seed: string, relativePath: string, size: number): Promise<string> {
  const filePath = join(dir, relativePath);
  const existingSize = await stat(filePath).then(
    (stats) => stats.size,
    () => undefined,
  );
  if (existingSize === size) return deterministicPayloadSha256(seed, relativePath, size);
  await mkdir(dirname(filePath), { recursive: true });
  return writeDeterministicPayload(filePath, seed, relativePath, size);
}

function fakeSha256(seed: string, relativePath: string, size: number): string {
  return createHash('sha256').update(`metadata-only\0${seed}\0${relativePath}\0${size}`).digest('hex');
}

async function writeMetadata(
  dir: string,
  contents: readonly PlannedContent[],
  checksums: ReadonlyMap<string, GeneratedFile>,
  updated: string,
  signingKey: SigningKey | undefined,
): Promise<string[]> {
  const written: string[] = [];
  const publish = async (jsonPath: string, jsonDocument: JsonObject, signedDocument: JsonObject): Promise<void> => {
    await writeAtomically(join(dir, jsonPath), toJsonText(jsonDocument));
    written.push(jsonPath);
    const sjsonPath = toSignedPath(jsonPath);
    if (signingKey === undefined) {
      // A previous signed run must not leave .sjson files that no longer match the .json.
      await rm(join(dir, sjsonPath), { force: true });
      return;
    }
    await writeAtomically(join(dir, sjsonPath), await clearsign(toJsonText(signedDocument), signingKey.privateKeyArmored));
    written.push(sjsonPath);
  };

  const index: JsonObject = {};
  const signedIndex: JsonObject = {};
  for (const content of contents) {
    const productsPath = `streams/v1/${content.contentId}.json`;
    const products = productsDocument(content, checksums, updated);
    await publish(productsPath, products, products);
    const entry = {
      datatype: 'image-ids',
      format: 'products:1.0',
      path: productsPath,
      products: content.products.map((product) => product.name).sort(compareCodeUnits),
      updated,
    };
    index[content.contentId] = entry;
    // images.maas.io's index.sjson points at the signed products files, its index.json at the plain ones.
    signedIndex[content.contentId] = { ...entry, path: toSignedPath(productsPath) };
  }
  await publish('streams/v1/index.json', { format: 'index:1.0', index, updated }, { format: 'index:1.0', index: signedIndex, updated });
  return written;
}

function toSignedPath(jsonPath: string): string {
  return jsonPath.replace(/\.json$/, '.sjson');
}

function productsDocument(content: PlannedContent, checksums: ReadonlyMap<string, GeneratedFile>, updated: string): JsonObject {
  const products: JsonObject = {};
  for (const product of content.products) {
    const versions: JsonObject = {};
    for (const version of product.versions) {
      const items: JsonObject = {};
      for (const item of version.items) {
        const file = checksums.get(item.path);
        if (file === undefined) throw new Error(`no payload was planned for ${item.path}`);
        items[item.name] = { ...item.extra, ftype: item.ftype, path: item.path, sha256: file.sha256, size: file.size };
      }
      versions[version.name] = { items };
    }
    products[product.name] = { ...product.fields, versions };
  }
  return { content_id: content.contentId, datatype: 'image-ids', format: 'products:1.0', products, updated };
}

/** As upstream writes it: Python's json.dumps(indent=1, sort_keys=True), plus a final newline. */
function toJsonText(document: JsonObject): string {
  return `${JSON.stringify(sortKeysDeep(document), null, 1)}\n`;
}

function sortKeysDeep(value: JsonValue): JsonValue {
  if (typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  const object = value as { readonly [key: string]: JsonValue };
  const sorted: JsonObject = {};
  for (const key of Object.keys(object).sort(compareCodeUnits)) {
    const child = object[key];
    if (child !== undefined) sorted[key] = sortKeysDeep(child);
  }
  return sorted;
}

async function writeAtomically(filePath: string, text: string): Promise<void> {
  // Tests regenerate a stream while a fixture server is serving it; a reader must never see half a file.
  await mkdir(dirname(filePath), { recursive: true });
  const temporaryPath = `${filePath}.partial-${process.pid}`;
  await writeFile(temporaryPath, text);
  await rename(temporaryPath, filePath);
}

async function mapConcurrently<T, R>(inputs: readonly T[], limit: number, work: (input: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(inputs.length);
  // The workers share one iterator, so each input is taken by exactly one of them.
  const queue = inputs.entries();
  const worker = async (): Promise<void> => {
    for (const [index, input] of queue) results[index] = await work(input);
  };
  await Promise.all(Array.from({ length: Math.min(limit, inputs.length) }, worker));
  return results;
}

function defaultUpdated(versions: readonly string[]): Date {
  const newest = versions.at(-1) ?? yyyymmdd(new Date(FIRST_VERSION_DATE));
  const midnight = Date.UTC(Number(newest.slice(0, 4)), Number(newest.slice(4, 6)) - 1, Number(newest.slice(6, 8)));
  return new Date(midnight + DAY_MS + (8 * 3600 + 1 * 60 + 49) * 1000);
}

/** "Thu, 24 Jul 2025 08:01:49 +0000", the form upstream uses. */
function rfc2822(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}

function yyyymmdd(date: Date): string {
  return date.toISOString().slice(0, 10).replaceAll('-', '');
}

function compareCodeUnits(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}
