// What every volume of an export is made of (issue 9 §3): the checks before writing, the volume's
// files (blobs, then SHA256SUMS, README.txt, audit.jsonl, keyrings, import.sh, bundle.json last),
// and the outcome and plan summary the faces show. Shared by one-target exports (export-job.ts)
// and exports carried one drive after another (export-drives.ts).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError } from '../base/errors.js';
import { lstatIfExists } from '../base/files.js';
import { STAGES_AHEAD, inStages } from '../base/pipeline.js';
import type { ProgressTracker } from '../base/progress.js';
import { importScriptText } from '../media/bundle/import-script.js';
import {
  BUNDLE_FILES,
  BUNDLE_FORMAT,
  BUNDLE_FORMAT_VERSION,
  blobStoragePaths,
  formatChecksums,
  parseBundleManifest,
  type BundleBlob,
  type BundleManifest,
} from '../media/bundle/manifest.js';
import type { ExportPlan, PlannedBlob } from '../media/bundle/plan.js';
import { readmeText } from '../media/bundle/readme.js';
import { finishVolume, stageBlob, startVolume, writeFileDurably, type ReadBack, type StagedBlob, type VolumeMarker, type WrittenBlob } from '../media/bundle/writer.js';
import { readBackFile, type ReadBackMethod } from '../net/index.js';
import type { ExportInput, ExportOutcome, ExportPlanSummary } from './api.js';
import type { ExportedFile, ExportSource } from './export-source.js';
import { productVersion } from './install.js';
import { stepProgress, type JobContext } from './job-context.js';

/** Throws FERRY_TARGET_MISSING unless `path` is an existing folder (never created: a mistyped mount point would fill the system disk). */
export async function assertTargetFolder(path: string): Promise<void> {
  const stats = await lstatIfExists(path);
  if (stats?.isDirectory() !== true) {
    throw new FerryError('FERRY_TARGET_MISSING', `The export target ${path} ${stats === undefined ? 'does not exist' : 'is not a folder'}; nothing was written.`, {
      path,
      hint: 'Create the folder, or check the drive is mounted there (the list of drives shows where each is mounted).',
    });
  }
}

/** One file per distinct sha256: where each blob's bytes are read from. */
export function blobSources(source: ExportSource): Map<string, ExportedFile> {
  const bySha = new Map<string, ExportedFile>();
  for (const file of source.files) if (!bySha.has(file.sha256)) bySha.set(file.sha256, file);
  return bySha;
}

/** What writing any volume of one bundle takes. */
export interface VolumeWriter {
  plan: ExportPlan;
  bundleId: string;
  createdAt: string;
  count: number;
  input: ExportInput;
  context: JobContext;
  source: ExportSource;
  base: BundleManifest['base'];
  bySha: ReadonlyMap<string, ExportedFile>;
  progress: ProgressTracker;
  written: { blobsWritten: number; blobsKept: number; bytesWritten: number };
}

/**
 * Writes volume `index` at `dir` (blobs, then SHA256SUMS, README.txt, audit.jsonl, keyrings,
 * import.sh, bundle.json last) and adds every file stored there to `ledger`: whole blobs as read
 * back before their rename (stageBlob), parts and the small files as still to read back.
 * `marker`: what export-plan.json records beside the plan key while the volume is unfinished.
 * Throws what stageBlob and its finish throw.
 */
export async function writeBundleVolume(
  dir: string,
  index: number,
  blobs: readonly PlannedBlob[],
  writer: VolumeWriter,
  ledger: ReadBackLedger,
  marker: Omit<VolumeMarker, 'key' | 'id' | 'created'>,
): Promise<void> {
  const { plan, bundleId, createdAt, count, input, context, source, base, bySha, progress, written } = writer;
  await startVolume(dir, { key: plan.key, id: bundleId, created: createdAt, ...marker });
  const entries: BundleBlob[] = [];
  const sourced = blobs.map((blob) => {
    const file = bySha.get(blob.sha256);
    if (file === undefined) throw new Error(`export plan names a blob no file has: ${blob.sha256}`);
    return { blob, file, path: file.path, size: blob.size };
  });
  await inPipeline(
    sourced,
    ({ blob, file }, onBytes) => stageBlob(dir, blob, file.source, file.describe, { signal: context.signal, onBytes, readBack: readBackFile }),
    progress,
    ({ blob }, result) => {
      countWritten(written, result.kept, blob.size);
      entries.push(result.entry);
      for (const entry of blobStoragePaths(result.entry)) ledger.add({ path: join(dir, entry.path), sha256: entry.sha256, size: entry.size }, result.readBack);
    },
  );
  const storage = entries.flatMap(blobStoragePaths);
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    formatVersion: BUNDLE_FORMAT_VERSION,
    id: bundleId,
    created: createdAt,
    tool: { name: 'stream-ferry', version: productVersion() },
    source: { url: source.url, indexPath: source.indexPath },
    metadataMode: 'verbatim',
    signatures: source.signatures,
    keyrings: source.keyrings.map((keyring) => ({ file: `${BUNDLE_FILES.keyrings}/${keyring.name}`, sha256: sha256Of(keyring.bytes), fingerprints: keyring.fingerprints })),
    selection: source.selection,
    max: source.max,
    site: input.site ?? null,
    base,
    volume: { index, count },
    files: source.files.map(({ path, size, sha256, role }) => ({ path, size, sha256, role })),
    blobs: entries,
    volumes: plan.volumes.map((volume, at) => ({ index: at + 1, blobs: volume.length, bytes: volume.reduce((sum, blob) => sum + blob.size, 0) })),
    signature: null,
  };
  const small: Array<[string, string | Buffer]> = [
    [BUNDLE_FILES.checksums, formatChecksums(storage)],
    [BUNDLE_FILES.readme, readmeText(manifest)],
    [BUNDLE_FILES.audit, auditLines(manifest, source, entries)],
    ...source.keyrings.map((keyring): [string, Buffer] => [join(BUNDLE_FILES.keyrings, keyring.name), keyring.bytes]),
    [BUNDLE_FILES.importScript, importScriptText(manifest)],
    [BUNDLE_FILES.manifest, `${JSON.stringify(manifest, null, 2)}\n`],
  ];
  for (const [path, bytes] of small) {
    await writeFileDurably(join(dir, path), bytes);
    const buffer = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    ledger.add({ path: join(dir, path), sha256: sha256Of(buffer), size: buffer.length }, undefined);
  }
  await finishVolume(dir);
}

/**
 * What the export has read back around the page cache, and what it has still to read back: a
 * whole blob copied in the kernel is read back before its rename (stageBlob), so only parts, the
 * small files (SHA256SUMS, bundle.json...) and what no kernel copy wrote are left for readBack.
 */
export class ReadBackLedger {
  readonly done: Array<{ file: StoredFile; read: ReadBack }> = [];
  readonly pending: StoredFile[] = [];

  add(file: StoredFile, read: ReadBack | undefined): void {
    if (read === undefined) this.pending.push(file);
    else this.done.push({ file, read });
  }
}

/**
 * Writes `items` through inStages: each staged (a kernel copy and flush on libuv's threads) up to
 * STAGES_AHEAD ahead of the one read back and hashed on this thread, finished in order; `onDone`
 * sees each result in order. Throws what `stage` or the finish throws, after removing what was
 * staged ahead.
 */
export async function inPipeline<T extends { path: string; size: number }>(
  items: readonly T[],
  stage: (item: T, onBytes: (delta: number) => void) => Promise<StagedBlob>,
  progress: ProgressTracker,
  onDone: (item: T, result: WrittenBlob) => void,
): Promise<void> {
  await inStages(
    items,
    STAGES_AHEAD,
    async (item) => {
      const tracked = progress.startFile(item.path, item.size);
      try {
        const staged = await stage(item, tracked.addBytes);
        return {
          finish: () => staged.finish(),
          abandon: async () => {
            tracked.failed();
            await staged.abandon();
          },
          tracked,
        };
      } catch (error) {
        tracked.failed();
        throw error;
      }
    },
    async (item, staging) => {
      const staged = await staging;
      try {
        onDone(item, await staged.finish());
      } catch (error) {
        staged.tracked.failed();
        throw error;
      }
      staged.tracked.done();
    },
  );
}

/** Reads back what the ledger has pending, and sums up every file read back: how, how many, which were wrong. */
export async function readBack(ledger: ReadBackLedger, input: ExportInput, context: JobContext): Promise<NonNullable<ExportOutcome['verified']>> {
  const pending = ledger.pending;
  const progress = stepProgress(context, 'read-back', { files: pending.length, bytes: pending.reduce((sum, file) => sum + file.size, 0) }, input.progressIntervalMs);
  const results = [...ledger.done];
  try {
    for (const file of pending) {
      const tracked = progress.startFile(file.path, file.size);
      results.push({ file, read: await readBackFile(file.path, { signal: context.signal, onBytes: tracked.addBytes }) });
      tracked.done();
    }
  } finally {
    progress.finish();
  }
  const methods = new Set<ReadBackMethod>(results.map(({ read }) => read.method));
  const bad = results.filter(({ file, read }) => read.sha256 !== file.sha256 || read.size !== file.size).map(({ file, read }) => ({ path: file.path, expected: file.sha256, actual: read.sha256 }));
  const method = methods.size > 1 ? 'mixed' : methods.has('cached') ? 'cached' : 'direct';
  return { files: results.length, bytes: results.reduce((sum, { read }) => sum + read.size, 0), method, bad };
}

/** Whether a finished volume holds exactly the planned blobs, in the same parts. */
export function sameVolume(manifest: BundleManifest, planned: readonly PlannedBlob[]): boolean {
  return (
    manifest.blobs.length === planned.length &&
    manifest.blobs.every((blob, index) => blob.sha256 === planned[index]?.sha256 && (blob.parts === undefined ? 1 : blob.parts.length) === planned[index].parts)
  );
}

/** bundle.json in `dir`, parsed; undefined where there is none, or one that does not parse (not this export's). */
export async function readManifestIfAny(dir: string): Promise<BundleManifest | undefined> {
  const path = join(dir, BUNDLE_FILES.manifest);
  const text = await readFile(path, 'utf8').catch(() => undefined);
  try {
    return text === undefined ? undefined : parseBundleManifest(text, path);
  } catch {
    return undefined;
  }
}

/** A file written to a volume, to read back: its absolute path and what it must hold. */
export interface StoredFile {
  path: string;
  sha256: string;
  size: number;
}

/**
 * The outcome as the verdict leaves it: nothing written, verified or ejected yet. Emits the verdict
 * (event `export-verdict`), so that a face shows it before the writing starts (issue 9 §2).
 */
export function outcomeBefore(input: ExportInput, context: JobContext, source: ExportSource, what: Pick<ExportOutcome, 'bundleId' | 'directories' | 'plan'>): ExportOutcome {
  context.emit({ type: 'export-verdict', plan: what.plan });
  return {
    jobId: context.jobId,
    dryRun: input.dryRun === true,
    ...what,
    written: null,
    verified: null,
    ejected: null,
    signatures: source.signatures,
    trustWarnings: source.trustWarnings,
    ledgerSite: null,
  };
}

export function countWritten(written: { blobsWritten: number; blobsKept: number; bytesWritten: number }, kept: boolean, size: number): void {
  if (kept) written.blobsKept += 1;
  else {
    written.blobsWritten += 1;
    written.bytesWritten += size;
  }
}

export function planSummary(plan: ExportPlan, source: ExportSource, fsType: string, base: BundleManifest['base']): ExportPlanSummary {
  const blobs = new Map(source.files.map((file) => [file.sha256, file.size]));
  // Metadata blobs are on every volume; each distinct blob counts once.
  const carried = new Set(plan.volumes.flat().map((blob) => blob.sha256));
  return {
    layout: plan.layout,
    files: source.files.length,
    blobs: blobs.size,
    blobsCarried: plan.layout === 'tree' ? blobs.size : carried.size,
    bytesCarried: plan.layout === 'tree' ? source.files.reduce((sum, file) => sum + file.size, 0) : [...carried].reduce((sum, sha256) => sum + (blobs.get(sha256) ?? 0), 0),
    bytesNeeded: plan.bytesNeeded,
    marginBytes: plan.marginBytes,
    freeBytes: plan.freeBytes,
    fsType,
    filesystem: plan.filesystem,
    volumes: Math.max(plan.volumes.length, 1),
    splitBlobs: plan.splitBlobs,
    base,
    warnings: [...source.notes, ...plan.warnings.map((warning) => `${warning.path}: ${warning.message}`)],
  };
}

function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function auditLines(manifest: BundleManifest, source: ExportSource, entries: readonly BundleBlob[]): string {
  const tool = manifest.tool;
  const records: object[] = [
    { event: 'fetched', at: source.fetchedAt ?? null, from: source.url, via: source.kind, indexPath: source.indexPath, tool },
    ...manifest.signatures.map((signature) => ({ event: 'verified', at: manifest.created, path: signature.path, keyFingerprint: signature.keyFingerprint, signedAt: signature.signedAt, tool })),
    {
      event: 'exported',
      at: manifest.created,
      bundle: manifest.id,
      volume: manifest.volume,
      files: manifest.files.length,
      blobs: entries.length,
      bytes: entries.reduce((sum, entry) => sum + entry.size, 0),
      site: manifest.site,
      base: manifest.base,
      keyrings: manifest.keyrings.map((keyring) => ({ file: keyring.file, fingerprints: keyring.fingerprints })),
      tool,
    },
  ];
  return records.map((record) => `${JSON.stringify(record)}\n`).join('');
}
