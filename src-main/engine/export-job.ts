// The `export` job (issue 9 §2-3): plan (the verdict, before anything is written), write every
// volume (blobs, then SHA256SUMS, README.txt, audit.jsonl, keyrings, import.sh, bundle.json last),
// read every blob back around the page cache, record the export in the library's ledger, and eject
// the drive (export-eject.ts) when the target is on one.
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { FerryError } from '../base/errors.js';
import { lstatIfExists, readdirIfExists, withFileErrors } from '../base/files.js';
import { lockLibrary, openLibrary, openLibraryForReading, type Library } from '../library/index.js';
import { importScriptText } from '../media/bundle/import-script.js';
import {
  BUNDLE_FILES,
  BUNDLE_FORMAT,
  BUNDLE_FORMAT_VERSION,
  BUNDLES_FOLDER,
  blobStoragePaths,
  formatChecksums,
  newRecordId,
  parseBundleManifest,
  parseReceipt,
  type BundleBlob,
  type BundleManifest,
} from '../media/bundle/manifest.js';
import { planExport, type ExportPlan, type PlannedBlob } from '../media/bundle/plan.js';
import { readmeText } from '../media/bundle/readme.js';
import { inspectTarget, type TargetFilesystem } from '../media/bundle/target.js';
import { findUnfinishedBundle, finishVolume, presentBytes, stageBlob, stageTreeFile, startVolume, writeFileDurably, type ReadBack, type StagedBlob, type WrittenBlob } from '../media/bundle/writer.js';
import { readBackFile, type ReadBackMethod } from '../net/index.js';
import type { ExportInput, ExportOutcome, ExportPlanSummary } from './api.js';
import { ejectExportTarget } from './export-eject.js';
import { gatherExportSource, type ExportedFile, type ExportSource } from './export-source.js';
import { productVersion } from './install.js';
import { stepProgress, type JobContext } from './job-context.js';
import { STAGES_AHEAD, inStages } from '../base/pipeline.js';
import type { ProgressTracker } from '../base/progress.js';
import { resolveLibraryDir } from './library.js';

/**
 * Runs an export. Throws FERRY_TARGET_MISSING (`to` is not an existing folder: never created, a
 * mistyped mount point would fill the system disk), what gatherExportSource throws, FERRY_RECEIPT_INVALID / FERRY_BUNDLE_TOO_NEW
 * (`since`), FERRY_TARGET_UNFIT, FERRY_NOT_ENOUGH_SPACE (before anything is written),
 * FERRY_SETTING_INVALID (partSize), FERRY_HASH_MISMATCH / FERRY_SIZE_MISMATCH (a source file that is
 * not what the signed metadata lists: nothing of it reaches a final path), FERRY_DISK_FULL, FERRY_IO,
 * FERRY_LIBRARY_BUSY, FERRY_CANCELLED. A blob that reads back wrong is reported in `verified.bad`;
 * the drive's eject (or why there was none) in `ejected`, never thrown.
 */
export async function runExport(input: ExportInput, context: JobContext): Promise<ExportOutcome> {
  if (input.tree !== undefined) return exportFrom(input, context, undefined, undefined);
  const dryRun = input.dryRun === true;
  const libraryDir = resolveLibraryDir({ library: input.library, env: context.env, cwd: context.cwd });
  // The lock keeps gc from deleting a blob while it is copied, and serialises the ledger.
  const lock = dryRun ? undefined : await lockLibrary(libraryDir, 'export');
  try {
    const library = dryRun ? await openLibraryForReading(libraryDir) : await openLibrary(libraryDir);
    try {
      return await exportFrom(input, context, library, libraryDir);
    } finally {
      library.close();
    }
  } finally {
    await lock?.release();
  }
}

async function exportFrom(input: ExportInput, context: JobContext, library: Library | undefined, libraryDir: string | undefined): Promise<ExportOutcome> {
  const to = resolvePath(context.cwd, input.to);
  const toStats = await lstatIfExists(to);
  if (toStats?.isDirectory() !== true) {
    throw new FerryError('FERRY_TARGET_MISSING', `The export target ${to} ${toStats === undefined ? 'does not exist' : 'is not a folder'}; nothing was written.`, {
      path: to,
      hint: 'Create the folder, or check the drive is mounted there (the list of drives shows where each is mounted).',
    });
  }
  const source = await gatherExportSource(input, context, library, libraryDir);
  const layout = input.layout ?? 'bundle';
  const { carried, base } = await carriedBlobs(input, context, source);
  const target = await inspectTarget(to);
  const keyringBytes = source.keyrings.reduce((sum, keyring) => sum + keyring.bytes.length, 0);
  const created = new Date();
  let bundleId = newRecordId(created, randomBytes(4).toString('hex'));
  const planInput = {
    files: source.files.map(({ path, size, sha256, role }) => ({ path, size, sha256, role })),
    carried,
    layout,
    bundleId,
    filesystem: target.kind,
    blockSize: target.blockSize,
    partSize: input.partSize,
    volumeSize: input.volumeSize,
    volumeOverheadBytes: 64 * 1024 + keyringBytes + 400 * source.files.length,
  };
  // The plan's shape first, to find an unfinished run of it: what that run wrote is not needed again.
  const shape = planExport({ ...planInput, freeBytes: null });
  let createdAt = created.toISOString();
  const count = shape.volumes.length;
  const volumeDir = (index: number): string => (count > 1 ? join(to, `volume-${index}`, BUNDLES_FOLDER, bundleId) : join(to, BUNDLES_FOLDER, bundleId));
  let present = 0;
  const finished = layout === 'bundle' ? await findFinishedBundle(to, shape.volumes, planInput.files, input.site ?? null, base) : undefined;
  if (finished !== undefined) return reverifyFinished(finished, to, input, context, source, target, planSummary(shape, source, target.fsType, base));
  if (layout === 'bundle') {
    const unfinished = await findUnfinishedBundle(count > 1 ? join(to, 'volume-1', BUNDLES_FOLDER) : join(to, BUNDLES_FOLDER), shape.key, input.dryRun !== true);
    if (unfinished !== undefined) {
      ({ id: bundleId, created: createdAt } = unfinished);
      for (const [index, blobs] of shape.volumes.entries()) present += await presentBytes(volumeDir(index + 1), blobs, target.blockSize);
    }
  }
  const plan = planExport({ ...planInput, freeBytes: target.freeBytes, presentBytes: present });
  const summary = planSummary(plan, source, target.fsType, base);
  const directories = layout === 'tree' ? [to] : plan.volumes.map((_volume, index) => volumeDir(index + 1));
  const outcome = outcomeBefore(input, context, source, { bundleId, directories, plan: summary });
  if (input.dryRun === true) return outcome;

  const bySha = new Map<string, ExportedFile>();
  for (const file of source.files) if (!bySha.has(file.sha256)) bySha.set(file.sha256, file);
  const progress = stepProgress(context, 'export', { files: 0, bytes: 0 }, input.progressIntervalMs);
  const written = { blobsWritten: 0, blobsKept: 0, bytesWritten: 0 };
  const checked = new ReadBackLedger();
  try {
    if (layout === 'tree') {
      const ordered = [...source.files.filter((file) => file.role === 'item'), ...metadataInWriteOrder(source.files)];
      progress.addToTotals(ordered.length, ordered.reduce((sum, file) => sum + file.size, 0));
      await inPipeline(
        ordered,
        (file, onBytes) => stageTreeFile(to, file, file.source, file.describe, { signal: context.signal, onBytes, readBack: readBackFile }),
        progress,
        (file, result) => {
          countWritten(written, result.kept, file.size);
          checked.add({ path: join(to, file.path), sha256: file.sha256, size: file.size }, result.readBack);
        },
      );
    } else {
      const volumesSummary = plan.volumes.map((blobs, index) => ({ index: index + 1, blobs: blobs.length, bytes: blobs.reduce((sum, blob) => sum + blob.size, 0) }));
      progress.addToTotals(
        plan.volumes.reduce((sum, blobs) => sum + blobs.length, 0),
        plan.volumes.flat().reduce((sum, blob) => sum + blob.size, 0),
      );
      for (const [index, blobs] of plan.volumes.entries()) {
        const dir = volumeDir(index + 1);
        await startVolume(dir, { key: plan.key, id: bundleId, created: createdAt });
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
            for (const entry of blobStoragePaths(result.entry)) checked.add({ path: join(dir, entry.path), sha256: entry.sha256, size: entry.size }, result.readBack);
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
          volume: { index: index + 1, count },
          files: source.files.map(({ path, size, sha256, role }) => ({ path, size, sha256, role })),
          blobs: entries,
          volumes: volumesSummary,
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
          checked.add({ path: join(dir, path), sha256: sha256Of(buffer), size: buffer.length }, undefined);
        }
        await finishVolume(dir);
      }
    }
  } finally {
    progress.finish();
  }
  outcome.written = written;
  outcome.verified = await readBack(checked, input, context);
  if (source.library !== undefined && layout === 'bundle' && outcome.verified.bad.length === 0) {
    source.library.catalog.recordExport({ bundleId, site: input.site ?? null, createdAt }, [...new Set(plan.volumes.flat().map((blob) => blob.sha256))]);
    outcome.ledgerSite = input.site ?? null;
  }
  // Only a bundle written and read back right is ejected; a bad one stays mounted to be looked at.
  if (outcome.verified.bad.length === 0) outcome.ejected = input.eject === false ? { kind: 'not-requested' } : await ejectExportTarget(to, target.mountPoint);
  return outcome;
}

/** A finished bundle of this same plan: its id, each volume's directory and the files stored there. */
interface FinishedBundle {
  id: string;
  directories: string[];
  stored: Array<{ path: string; sha256: string; size: number }>;
}

/**
 * The finished bundle in `to` (bundle.json written) of the same plan: the same files, the same
 * site and base, and on every volume the same blobs in the same parts. A second identical export
 * re-verifies it rather than writing a second copy that `ferry verify TARGET` would count.
 */
async function findFinishedBundle(
  to: string,
  volumes: readonly PlannedBlob[][],
  files: readonly BundleManifest['files'][number][],
  site: string | null,
  base: BundleManifest['base'],
): Promise<FinishedBundle | undefined> {
  const count = volumes.length;
  const folder = (index: number): string => (count > 1 ? join(to, `volume-${index}`, BUNDLES_FOLDER) : join(to, BUNDLES_FOLDER));
  const sameVolume = (manifest: BundleManifest, planned: readonly PlannedBlob[]): boolean =>
    manifest.blobs.length === planned.length &&
    manifest.blobs.every((blob, index) => blob.sha256 === planned[index]?.sha256 && (blob.parts === undefined ? 1 : blob.parts.length) === planned[index].parts);
  for (const entry of await readdirIfExists(folder(1))) {
    if (!entry.isDirectory()) continue;
    const directories = volumes.map((_blobs, index) => join(folder(index + 1), entry.name));
    const stored: FinishedBundle['stored'] = [];
    let same = true;
    for (const [index, dir] of directories.entries()) {
      const path = join(dir, BUNDLE_FILES.manifest);
      const text = await readFile(path, 'utf8').catch(() => undefined);
      // No bundle.json: unfinished (findUnfinishedBundle's case) or not a bundle; a damaged one is not this plan's.
      let manifest: BundleManifest | undefined;
      try {
        manifest = text === undefined ? undefined : parseBundleManifest(text, path);
      } catch {
        manifest = undefined;
      }
      if (
        manifest?.id !== entry.name ||
        manifest.volume.count !== count ||
        manifest.site !== site ||
        JSON.stringify(manifest.base) !== JSON.stringify(base) ||
        JSON.stringify(manifest.files) !== JSON.stringify(files) ||
        !sameVolume(manifest, volumes[index] ?? [])
      ) {
        same = false;
        break;
      }
      for (const file of manifest.blobs.flatMap(blobStoragePaths)) stored.push({ path: join(dir, file.path), sha256: file.sha256, size: file.size });
    }
    if (same) return { id: entry.name, directories, stored };
  }
  return undefined;
}

/** Reads a finished bundle of the same plan back around the page cache, as after writing it; nothing is written. */
async function reverifyFinished(
  finished: FinishedBundle,
  to: string,
  input: ExportInput,
  context: JobContext,
  source: ExportSource,
  target: TargetFilesystem,
  plan: ExportPlanSummary,
): Promise<ExportOutcome> {
  const where = finished.directories.length > 1 ? `${finished.directories.length} volumes` : finished.directories[0] ?? '';
  const outcome = outcomeBefore(input, context, source, {
    bundleId: finished.id,
    directories: finished.directories,
    plan: { ...plan, warnings: [...plan.warnings, `a finished bundle of this same plan, ${finished.id}, is already here (${where}): it is verified again instead of written twice`] },
  });

  if (input.dryRun === true) return outcome;
  outcome.written = { blobsWritten: 0, blobsKept: finished.stored.length, bytesWritten: 0 };
  const ledger = new ReadBackLedger();
  for (const file of finished.stored) ledger.add(file, undefined);
  outcome.verified = await readBack(ledger, input, context);
  if (outcome.verified.bad.length === 0) outcome.ejected = input.eject === false ? { kind: 'not-requested' } : await ejectExportTarget(to, target.mountPoint);
  return outcome;
}

/** The outcome as the verdict leaves it: nothing written, verified or ejected yet. */
function outcomeBefore(input: ExportInput, context: JobContext, source: ExportSource, what: Pick<ExportOutcome, 'bundleId' | 'directories' | 'plan'>): ExportOutcome {
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

function countWritten(written: { blobsWritten: number; blobsKept: number; bytesWritten: number }, kept: boolean, size: number): void {
  if (kept) written.blobsKept += 1;
  else {
    written.blobsWritten += 1;
    written.bytesWritten += size;
  }
}

/** Products files before the index files (as a mirror publishes them: what the index points at exists first). */
function metadataInWriteOrder(files: readonly ExportedFile[]): ExportedFile[] {
  const metadata = files.filter((file) => file.role === 'metadata');
  const isIndex = (file: ExportedFile): boolean => /(^|\/)index\.s?json$/.test(file.path);
  return [...metadata.filter((file) => !isIndex(file)), ...metadata.filter(isIndex)];
}

/** The blobs this bundle carries, and the base it is judged from (docs/bundle.md, "Incremental bundles"). */
async function carriedBlobs(input: ExportInput, context: JobContext, source: ExportSource): Promise<{ carried: Set<string>; base: BundleManifest['base'] }> {
  const all = new Set(source.files.map((file) => file.sha256));
  if (input.since !== undefined) {
    const path = resolvePath(context.cwd, input.since);
    const receipt = parseReceipt(await withFileErrors(path, 'read the receipt', () => readFile(path, 'utf8')), path);
    const held = new Set(receipt.blobs.map((blob) => blob.sha256));
    return { carried: new Set([...all].filter((sha256) => !held.has(sha256))), base: { kind: 'receipt', id: receipt.id } };
  }
  if (input.site !== undefined && source.library !== undefined) {
    const latest = source.library.catalog.latestExportTo(input.site);
    // No export to this site yet: a full bundle, with no base.
    if (latest === undefined) return { carried: all, base: null };
    const carriedBefore = source.library.catalog.blobsExportedTo(input.site);
    return { carried: new Set([...all].filter((sha256) => !carriedBefore.has(sha256))), base: { kind: 'site', id: latest.bundleId } };
  }
  return { carried: all, base: null };
}

type StoredFile = { path: string; sha256: string; size: number };

/**
 * What the export has read back around the page cache, and what it has still to read back: a
 * whole blob copied in the kernel is read back before its rename (stageBlob), so only parts, the
 * small files (SHA256SUMS, bundle.json...) and what no kernel copy wrote are left for readBack.
 */
class ReadBackLedger {
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
async function inPipeline<T extends { path: string; size: number }>(
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
async function readBack(ledger: ReadBackLedger, input: ExportInput, context: JobContext): Promise<NonNullable<ExportOutcome['verified']>> {
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

function planSummary(plan: ExportPlan, source: ExportSource, fsType: string, base: BundleManifest['base']): ExportPlanSummary {
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
