// The `verify` and `import` jobs: a bundle checked on the offline side, and turned into the mirror
// tree its manifest describes (docs/bundle.md, "Import"). Both verify upstream's signatures first
// (bundle-open.ts). Import writes each file through `<final path>.partial`, hashing as it writes,
// and renames only after every staged file verified, so a bad blob leaves the target as it was;
// metadata goes last, products files before the index, and only when every file is in place.

import { constants as fsConstants } from 'node:fs';
import { open, readFile, rm, rmdir, unlink } from 'node:fs/promises';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { FerryError, isFerryError } from '../base/errors.js';
import { checkFinishedFile, ensureDirectoryDurably, lstatIfExists, renameIntoPlace, withFileErrors } from '../base/files.js';
import { hashFile } from '../base/hashing.js';
import { STAGES_AHEAD, inStages, writeFully } from '../base/pipeline.js';
import { throwIfCancelled } from '../base/cancel.js';
import { assertTreeStateFolders, lockLibrary, TREE_STATE_FOLDER } from '../library/index.js';
import { checkTreePath } from '../mirror/tree-store.js';
import { PARTIAL_SUFFIX, blobStoragePaths, type BundleFile } from '../media/bundle/manifest.js';
import { copyStoredInKernel, filesByBlob, readBlob, readStored, type BlobLocation, type StoredFile } from '../media/bundle/reader.js';
import type { BundleBlobProblem, BundleInput, BundleSummary, ImportInput, ImportOutcome, VerifyOutcome } from './api.js';
import { openVerifiedBundle, type VerifiedBundle } from './bundle-open.js';
import { stepProgress, type JobContext } from './job-context.js';
import type { TrackedFile } from '../base/progress.js';
import { bundledKeyringPath } from './install.js';
import { importMaasCommands } from './maas.js';
import { pruneTree } from './prune.js';
import { publishedMetadataText } from './stream.js';
import { parseStreamDocument } from '../streams/index.js';

async function openForJob(input: BundleInput, context: JobContext, target?: string): Promise<VerifiedBundle> {
  const verified = await openVerifiedBundle({ paths: input.bundles, keyringFiles: input.keyringFiles ?? [], trustBundleKeyrings: input.trustBundleKeyrings, cwd: context.cwd, signal: context.signal, target });
  context.emit({ type: 'loaded', source: verified.bundle.volumes.map((volume) => volume.dir).join(', '), trust: verified.trust, metadataFiles: verified.stream.metadataFiles.length });
  return verified;
}

function summary(verified: VerifiedBundle): BundleSummary {
  const { bundle } = verified;
  return {
    bundleId: bundle.id,
    created: bundle.manifest.created,
    volumes: { given: bundle.volumes.map((volume) => volume.manifest.volume.index), missing: bundle.missingVolumes, count: bundle.manifest.volume.count },
    base: bundle.manifest.base,
    trust: verified.trust,
    signatures: verified.signatures,
  };
}

function problem(sha256: string, paths: string[], error: FerryError, location: BlobLocation | undefined): BundleBlobProblem {
  return { sha256, paths, storagePath: error.path ?? null, volume: location?.volume.manifest.volume.index ?? null, error: error.toJSON() };
}

/** Why a blob the bundle's files need is on no volume given: a volume not given, or (incremental) expected at the site. */
function absentBlob(verified: VerifiedBundle, sha256: string, paths: string[]): FerryError {
  const { bundle } = verified;
  const where =
    bundle.missingVolumes.length > 0
      ? `on a volume not given (missing: ${bundle.missingVolumes.join(', ')} of ${bundle.manifest.volume.count})`
      : bundle.manifest.base === null
        ? 'on no volume of this full bundle'
        : `expected at the site (base ${bundle.manifest.base.kind} ${bundle.manifest.base.id})`;
  return new FerryError('FERRY_BUNDLE_INCOMPLETE', `The blob ${sha256} for ${paths.join(', ')} is ${where}.`, { path: paths[0], expected: sha256, actual: 'missing' });
}

/**
 * The `verify` job: signatures first (openVerifiedBundle), then every blob and part on the volumes
 * given re-hashed against bundle.json (SHA256SUMS was checked to agree with it when opened).
 * Completeness and validity are reported apart, each missing or bad blob with the tree paths it
 * is for. Fails as openVerifiedBundle fails (FERRY_SIG_*, FERRY_BUNDLE_INVALID...), FERRY_CANCELLED.
 */
export async function runVerify(input: BundleInput, context: JobContext): Promise<VerifyOutcome> {
  const verified = await openForJob(input, context);
  const { bundle } = verified;
  const forBlob = filesByBlob(bundle.manifest);
  const pathsOf = (sha256: string): string[] => (forBlob.get(sha256) ?? []).map((file) => file.path);
  const locations = [...bundle.blobs.values()];
  const progress = stepProgress(context, 'verify-existing', { files: locations.length, bytes: locations.reduce((sum, entry) => sum + entry.blob.size, 0) }, input.progressIntervalMs);
  const missing: BundleBlobProblem[] = [];
  const bad: BundleBlobProblem[] = [];
  let bytesChecked = 0;
  try {
    for (const location of locations) {
      const tracked = progress.startFile(pathsOf(location.blob.sha256)[0] ?? location.blob.sha256, location.blob.size);
      try {
        await readBlob(location, (chunk) => {
          tracked.addBytes(chunk.length);
          bytesChecked += chunk.length;
        }, context.signal);
        tracked.done();
      } catch (error) {
        tracked.failed();
        if (!isFerryError(error) || error.code === 'FERRY_CANCELLED') throw error;
        (error.code === 'FERRY_BUNDLE_INCOMPLETE' ? missing : bad).push(problem(location.blob.sha256, pathsOf(location.blob.sha256), error, location));
      }
    }
  } finally {
    progress.finish();
  }
  const atSite: VerifyOutcome['atSite'] = [];
  for (const [sha256, files] of forBlob) {
    if (bundle.blobs.has(sha256)) continue;
    const paths = files.map((file) => file.path);
    if (bundle.missingVolumes.length === 0 && bundle.manifest.base !== null) atSite.push({ sha256, paths });
    else missing.push(problem(sha256, paths, absentBlob(verified, sha256, paths), undefined));
  }
  return {
    ...summary(verified),
    complete: missing.length === 0 && bundle.missingVolumes.length === 0,
    valid: bad.length === 0,
    missing,
    bad,
    atSite,
    blobsChecked: locations.length,
    bytesChecked,
  };
}

/** Where a file's bytes come from: a blob of the bundle, or a verified file already in the target. */
type Supply = { kind: 'blob'; location: BlobLocation } | { kind: 'local'; path: string };

/**
 * The `import` job (docs/bundle.md, "Import"). Signatures first; then each item file that is not
 * already at its final path with its sha256 (hashed, never trusted) is written to `<final
 * path>.partial` from its blob (or, for an incremental bundle, from a file in the target with that
 * sha256), hashed while written and fsynced. Only when every staged file verified are they renamed
 * into place; metadata follows when every file is in place, products files before the index. A
 * rerun finds what is in place and writes the rest; nothing but the tree's files is written into
 * the target. Fails with FERRY_HASH_MISMATCH / FERRY_SIZE_MISMATCH naming the blob and its files
 * (nothing from it, nor from any other blob of this run, reached a final path), FERRY_PATH_BLOCKED,
 * FERRY_UNSAFE_PATH, FERRY_DISK_FULL, FERRY_IO, what openVerifiedBundle throws, FERRY_LIBRARY_BUSY
 * (another import, or a ferry mirror, holds the tree's lock: nothing was written), FERRY_CANCELLED.
 */
export async function runImport(input: ImportInput, context: JobContext): Promise<ImportOutcome> {
  const target = resolvePath(context.cwd, input.target);
  await ensureDirectoryDurably(target);
  const verified = await openForJob(input, context, target);
  // Two imports (or an import and a ferry mirror) into one tree would share partial names and
  // remove each other's: the tree's lock, as ferry mirror takes it, after the signatures verified.
  // A state folder made only for the lock goes again, so the tree holds nothing but its files.
  const stateFolder = join(target, TREE_STATE_FOLDER);
  const hadStateFolder = (await lstatIfExists(stateFolder)) !== undefined;
  await assertTreeStateFolders(target);
  const lock = await lockLibrary(stateFolder, 'import');
  try {
    return await importInto(target, verified, input, context);
  } finally {
    await lock.release();
    if (!hadStateFolder) await rmdir(stateFolder).catch(() => undefined);
  }
}

async function importInto(target: string, verified: VerifiedBundle, input: ImportInput, context: JobContext): Promise<ImportOutcome> {
  const { bundle } = verified;
  // Before anything is written: an older bundle would roll the published metadata back, and a
  // prune after it would delete the newer versions' files.
  if (input.allowOlder !== true) await refuseOlderBundle(target, verified);
  const itemFiles = bundle.manifest.files.filter((file) => file.role === 'item');

  // Which files are in place already; they are also what an incremental bundle copies from.
  const inPlace = new Map<string, string>();
  const inPlacePaths = new Set<string>();
  for (const file of itemFiles) {
    throwIfCancelled(context.signal);
    if (!(await holdsBytes(target, file))) continue;
    inPlace.set(file.sha256, file.path);
    inPlacePaths.add(file.path);
  }
  const toWrite: Array<{ file: BundleFile; supply: Supply }> = [];
  const missing: BundleBlobProblem[] = [];
  for (const file of itemFiles) {
    if (inPlacePaths.has(file.path)) continue;
    const location = bundle.blobs.get(file.sha256);
    const local = inPlace.get(file.sha256);
    if (location !== undefined) toWrite.push({ file, supply: { kind: 'blob', location } });
    else if (local !== undefined) toWrite.push({ file, supply: { kind: 'local', path: join(target, local) } });
    else missing.push(problem(file.sha256, [file.path], absentBlob(verified, file.sha256, [file.path]), undefined));
  }
  const filesKept = itemFiles.length - toWrite.length - missing.length;

  const progress = stepProgress(context, 'place', { files: toWrite.length, bytes: toWrite.reduce((sum, entry) => sum + entry.file.size, 0) }, input.progressIntervalMs);
  const staged: Array<{ file: BundleFile; partial: string; final: string }> = [];
  // Files are copied (in the kernel, on libuv's threads) up to STAGES_AHEAD ahead of the file
  // hashed on this thread, and a file's flush (where it was copied through user space) runs while
  // the next is copied: at most one flush.
  let flushing: Promise<void> | undefined;
  try {
    await inStages(
      toWrite,
      STAGES_AHEAD,
      async ({ file, supply }) => {
        const tracked = progress.startFile(file.path, file.size);
        try {
          const { path: final } = await checkTreePath(target, file.path, 'file');
          await checkTreePath(target, file.path + PARTIAL_SUFFIX, 'replace');
          const stagedFile = await stageVerified(final + PARTIAL_SUFFIX, final, file, supply, (bytes) => {
            tracked.addBytes(bytes);
          }, context.signal);
          return {
            ...stagedFile,
            tracked,
            abandon: async () => {
              tracked.failed();
              await stagedFile.abandon();
            },
          };
        } catch (error) {
          tracked.failed();
          throw error;
        }
      },
      async ({ file, supply }, staging) => {
        let tracked: TrackedFile | undefined;
        try {
          const stagedFile = await staging;
          tracked = stagedFile.tracked;
          const { flush } = await stagedFile.finish();
          staged.push({ file, partial: stagedFile.partial, final: stagedFile.final });
          const previous = flushing;
          flushing = flush();
          // Its failure is taken when the next file waits for it, or after the last.
          flushing.catch(() => undefined);
          await previous;
          tracked.done();
        } catch (error) {
          tracked?.failed();
          // A blob file deleted from the drive is missing, as on a volume not given: the rest is written, the metadata waits.
          if (!isFerryError(error, 'FERRY_BUNDLE_INCOMPLETE') || supply.kind !== 'blob') throw error;
          missing.push(problem(file.sha256, [file.path], error, supply.location));
        }
      },
    );
    await flushing;
  } catch (error) {
    // Nothing of this run reaches a final path: the target stays as it was.
    await flushing?.catch(() => undefined);
    await Promise.all(staged.map((entry) => rm(entry.partial, { force: true })));
    throw error;
  } finally {
    progress.finish();
  }
  for (const { file, partial } of staged) {
    const { path: final } = await checkTreePath(target, file.path, 'file');
    await renameIntoPlace(partial, final);
  }

  const complete = missing.length === 0;
  const metadataWritten: string[] = [];
  let pruned: string[] = [];
  if (complete) {
    // loadStream's order: products files first, the index last.
    for (const metadata of verified.stream.metadataFiles) {
      const file = bundle.manifest.files.find((entry) => entry.path === metadata.path);
      if (file === undefined || (await holdsBytes(target, file))) continue;
      const { path: final } = await checkTreePath(target, file.path, 'file');
      await checkTreePath(target, file.path + PARTIAL_SUFFIX, 'replace');
      await (await writeVerified(final + PARTIAL_SUFFIX, file, { kind: 'bytes', bytes: metadata.bytes }, () => undefined, context.signal)).flush();
      await renameIntoPlace(final + PARTIAL_SUFFIX, final);
      metadataWritten.push(file.path);
    }
    if (input.prune === true) pruned = await pruneTree(target, verified.stream, context.signal);
  }
  await removeLeftoverPartials(target, bundle.manifest.files);
  return {
    ...summary(verified),
    target,
    complete,
    filesWritten: staged.map((entry) => entry.file.path),
    filesKept,
    bytesWritten: staged.reduce((sum, entry) => sum + entry.file.size, 0),
    missing,
    metadataWritten,
    pruned,
    maas: complete ? importMaasCommands({ url: input.serveUrl, keyringFile: await maasKeyring(verified), items: verified.items.values() }) : null,
  };
}

/**
 * Throws FERRY_BUNDLE_OLDER when any products file (or the index) the target publishes at a path
 * the bundle also carries has a later signed `updated` date than the bundle's copy (dates as
 * simplestreams writes them, RFC 2822; parsed with Date.parse). The target's metadata is read
 * without verifying its signature again: it only ever makes the import refuse. A file that is
 * absent, unreadable or has no date cannot be judged and does not refuse.
 */
async function refuseOlderBundle(target: string, verified: VerifiedBundle): Promise<void> {
  const ours = [...verified.stream.products.map((products) => ({ path: products.file.path, updated: products.document.updated })), ...(verified.stream.index === undefined ? [] : [{ path: verified.stream.index.file.path, updated: verified.stream.index.document.updated }])];
  for (const { path, updated } of ours) {
    const { path: final, stats } = await checkTreePath(target, path, 'file');
    if (stats?.isFile() !== true) continue;
    const theirs = await readFile(final)
      .then((bytes) => parseStreamDocument(publishedMetadataText(path, bytes), final).updated)
      .catch(() => undefined);
    const targetTime = theirs === undefined ? Number.NaN : Date.parse(theirs);
    const bundleTime = updated === undefined ? Number.NaN : Date.parse(updated);
    if (!(targetTime > bundleTime)) continue;
    throw new FerryError(
      'FERRY_BUNDLE_OLDER',
      `The target publishes newer metadata than this bundle carries: ${path} in ${target} is dated ${theirs ?? ''}, the bundle's (${verified.bundle.id}) ${updated ?? ''}. Importing it would roll the metadata back; nothing was written.`,
      { path: final, expected: `updated after ${theirs ?? ''}`, actual: updated ?? 'no date', hint: 'Import a newer bundle; roll back only on purpose.' },
    );
  }
}

/** The file is at its final path, a regular file with the listed size and sha256 (hashed). */
async function holdsBytes(target: string, file: BundleFile): Promise<boolean> {
  const { path, stats } = await checkTreePath(target, file.path, 'file');
  if (stats?.isFile() !== true || stats.size !== file.size) return false;
  return (await hashFile(path, 'sha256')).sha256 === file.sha256;
}

/** A file on its way to its partial name: `finish` checks what landed (answering its flush); `abandon` removes the partial. */
interface StagedFile {
  partial: string;
  final: string;
  finish(): Promise<{ flush: () => Promise<void> }>;
  abandon(): Promise<void>;
}

/**
 * Starts writing `file` to `partial`. A blob stored whole, or a file already in the target, is
 * copied in the kernel (copyStoredInKernel, flushed) and `finish` hashes what landed at `partial`
 * (readStored; the page cache is fine here: it is what the rename publishes); when that is wrong,
 * the source is read through readStored to name the fault (a damaged blob, as writeVerified names
 * it), and a right source means the target's disk returned other bytes (FERRY_IO). Anything else
 * (parts, no kernel copy) is writeVerified's, whole, in this step. Throws what writeVerified throws.
 */
async function stageVerified(partial: string, final: string, file: BundleFile, supply: Supply, onBytes: (bytes: number) => void, signal: AbortSignal): Promise<StagedFile> {
  const stored = wholeStoredFile(file, supply);
  const abandon = async (): Promise<void> => {
    await rm(partial, { force: true }).catch(() => undefined);
  };
  if (stored !== undefined) {
    await ensureDirectoryDurably(dirname(partial));
    await withFileErrors(partial, 'remove', () => rm(partial, { force: true }));
    let copied: boolean;
    try {
      copied = await copyStoredInKernel(stored, partial);
    } catch (error) {
      throw namedForFile(error, file, supply);
    }
    if (copied) {
      const finish = async (): Promise<{ flush: () => Promise<void> }> => {
        let reported = 0;
        try {
          await readStored([{ path: partial, name: file.path, size: file.size, sha256: file.sha256 }], { name: file.path, sha256: file.sha256 }, (chunk) => {
            reported += chunk.length;
            onBytes(chunk.length);
          }, signal);
        } catch (error) {
          onBytes(-reported);
          await abandon();
          if (!isFerryError(error, 'FERRY_HASH_MISMATCH') && !isFerryError(error, 'FERRY_SIZE_MISMATCH')) throw error;
          // Whose fault: the source, read again, throws naming the damaged blob.
          await readStored([stored], { name: stored.name, sha256: file.sha256 }, () => undefined, signal).catch((sourceError: unknown) => {
            throw namedForFile(sourceError, file, supply);
          });
          throw new FerryError('FERRY_IO', `${partial} holds other bytes than were copied to it from a sound source: the target's disk is failing.`, {
            path: partial,
            expected: file.sha256,
            actual: error.actual,
            cause: error,
            hint: 'Check the target\'s disk, then rerun the import: files already in place are kept.',
          });
        }
        return { flush: () => Promise.resolve() };
      };
      return { partial, final, finish, abandon };
    }
  }
  const written = await writeVerified(partial, file, supply, onBytes, signal);
  return { partial, final, finish: () => Promise.resolve(written), abandon };
}

/** The one stored file holding all of `file`'s bytes (a blob stored whole, a file in the target), or undefined for parts. */
function wholeStoredFile(file: BundleFile, supply: Supply): StoredFile | undefined {
  if (supply.kind === 'local') return { path: supply.path, name: supply.path, size: file.size, sha256: file.sha256 };
  if (supply.location.blob.parts !== undefined) return undefined;
  const [only] = blobStoragePaths(supply.location.blob);
  return only === undefined ? undefined : { path: join(supply.location.volume.dir, only.path), name: only.path, size: file.size, sha256: file.sha256 };
}

/**
 * Writes `file`'s bytes to `partial` (a new file: whatever was at that name, a link included, is
 * removed first), checked as they are written (readStored); answers `flush`, which fsyncs and
 * closes it (and removes it if that fails), so that the drive writes one file back while the next
 * is copied. Throws (and `flush` rejects with FERRY_DISK_FULL, FERRY_IO, FERRY_SIZE_MISMATCH)
 * FERRY_HASH_MISMATCH or FERRY_SIZE_MISMATCH naming the blob and the file (the partial is
 * removed), FERRY_BUNDLE_INCOMPLETE, FERRY_DISK_FULL, FERRY_IO, FERRY_CANCELLED.
 */
async function writeVerified(
  partial: string,
  file: BundleFile,
  supply: Supply | { kind: 'bytes'; bytes: Buffer },
  onBytes: (bytes: number) => void,
  signal: AbortSignal,
): Promise<{ flush: () => Promise<void> }> {
  await ensureDirectoryDurably(dirname(partial));
  await withFileErrors(partial, 'remove', () => rm(partial, { force: true }));
  const handle = await withFileErrors(partial, 'create', () => open(partial, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o644));
  const write = async (chunk: Buffer, position: number): Promise<void> => {
    await withFileErrors(partial, 'write', () => writeFully(handle, chunk, position));
    onBytes(chunk.length);
  };
  try {
    // readStored checks sizes and sha256 as the bytes pass, before they can reach a final path;
    // metadata bytes were checked against bundle.json when they were read for the signatures.
    if (supply.kind === 'blob') await readBlob(supply.location, write, signal);
    else if (supply.kind === 'bytes') await write(supply.bytes, 0);
    else await readStored([{ path: supply.path, name: supply.path, size: file.size, sha256: file.sha256 }], { name: supply.path, sha256: file.sha256 }, write, signal);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(partial, { force: true });
    throw namedForFile(error, file, supply);
  }
  const flush = async (): Promise<void> => {
    try {
      await withFileErrors(partial, 'flush', () => handle.sync());
    } catch (error) {
      await handle.close().catch(() => undefined);
      await rm(partial, { force: true });
      throw error;
    }
    await withFileErrors(partial, 'close', () => handle.close());
    // A short write would leave fewer bytes than were checked.
    await checkFinishedFile(partial, file.size, file.path, { flush: false });
  };
  return { flush };
}

/** A blob's failure, reworded to name the tree file it was for and the stored file that failed. */
function namedForFile(error: unknown, file: BundleFile, supply: Supply | { kind: 'bytes' }): unknown {
  if (isFerryError(error, 'FERRY_DISK_FULL')) {
    // The generic hint promises kept partial files; an import removes its own and keeps only what reached a final path.
    return new FerryError(error.code, `${error.message} (importing ${file.path}).`, {
      path: error.path ?? file.path,
      cause: error,
      hint: 'Free space on the target\'s disk, then run the import again: files already in place are kept, the partial files of this run were removed, and nothing of it was moved into place.',
    });
  }
  if (!isFerryError(error) || (error.code !== 'FERRY_HASH_MISMATCH' && error.code !== 'FERRY_SIZE_MISMATCH')) return error;
  const from = supply.kind === 'blob' ? `the blob ${supply.location.blob.sha256} (${blobStoragePaths(supply.location.blob).map((stored) => stored.path).join(', ')})` : 'its source';
  return new FerryError(error.code, `Refusing ${file.path}: ${from} is damaged: ${error.message} Nothing of this import was moved into place.`, {
    path: error.path ?? file.path,
    expected: error.expected,
    actual: error.actual,
    cause: error,
    hint: 'Copy the bundle again from the export (or export again), then rerun the import.',
  });
}

/** `<final path>.partial` files a killed run left for files of the bundle: removed once the run is done. */
async function removeLeftoverPartials(target: string, files: readonly BundleFile[]): Promise<void> {
  for (const file of files) {
    const { path } = await checkTreePath(target, file.path + PARTIAL_SUFFIX, 'replace');
    if ((await lstatIfExists(path))?.isFile() === true) await withFileErrors(path, 'remove', () => unlink(path));
  }
}

/**
 * The keyring MAAS should verify with: undefined (the Ubuntu cloud image keyring MAAS ships) when
 * the metadata was verified with exactly that keyring's bytes, else the first keyring used.
 */
async function maasKeyring(verified: VerifiedBundle): Promise<string | undefined> {
  if (verified.trust.kind !== 'verified') return undefined;
  const ubuntu = await readFile(bundledKeyringPath()).catch(() => undefined);
  const used = verified.trust.keyringFiles;
  for (const path of used) {
    const bytes = await readFile(path).catch(() => undefined);
    if (ubuntu === undefined || bytes === undefined || !bytes.equals(ubuntu)) return path;
  }
  return undefined;
}
