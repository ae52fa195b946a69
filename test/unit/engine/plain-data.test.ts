import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jobEventSchema, jobInputSchemas, jobStatusSchema } from '../../../src-main/contract/index.js';
import {
  JOB_EVENT_TYPES,
  type JobEvent,
  type JobEventType,
  type JobInputs,
  type JobKind,
  type BundleSummary,
  type JobOutcomes,
  type MirrorOutcome,
  type Progress,
  type StreamTrust,
} from '../../../src-main/engine/index.js';
import { createEngine } from '../../../src-main/engine/index.js';
import { expectPlainData } from './helpers.js';

// Inputs and events must cross a process boundary (Electron IPC, a WebSocket) unchanged. The
// tables below are typed over the whole unions: a new event type or job kind does not compile
// until it has a sample here, and the runtime list of event types must match the table too.

/** Inputs name folders here; no job started by this test gets far enough to create them. */
const nowhere = join(tmpdir(), 'ferry-plain-data-never-created');
const jobId = '4f9c1a52-7d0e-4c8e-9b1a-2f6d3e5c7a90';
const error = { name: 'FerryError', code: 'FERRY_HASH_MISMATCH', message: 'bad', url: 'http://127.0.0.1:1/a', expected: 'x', actual: 'y' } as const;
const progress: Progress = {
  jobId,
  step: 'download',
  bytesDone: 10,
  bytesTotal: 20,
  filesDone: 1,
  filesTotal: 2,
  speed: 5,
  eta: 2,
  current: [{ name: 'a/b', bytesDone: 3, bytesTotal: 10, speed: 1 }],
};
const trust: StreamTrust = { kind: 'verified', signers: ['ABCDEF'], keyringFiles: ['/k.gpg'], expiredKeys: [{ fingerprint: 'ABCDEF', expiredAt: '2024-01-01T00:00:00.000Z' }], warnings: [{ kind: 'key-expires-soon', fingerprint: 'ABCDEF', expiresAt: '2024-03-01T00:00:00.000Z', days: 3 }] };
const plan = {
  bytesAdded: 10,
  referenceLines: ['+ p v i a/b 0 Mb', '0 Mb change'],
  versionsAdded: 1,
  versionsRemoved: 0,
  filesWanted: 1,
  bytesWanted: 10,
  filesToFetch: 1,
  bytesToFetch: 10,
  filesToVerify: 0,
  bytesToVerify: 0,
  filesToRemove: 0,
  bytesToRemove: 0,
  rejected: [{ item: 'c/p/v/i', error }],
  advice: {
    noMatch: { filters: ['arches=amd64', 'release=jammy', 'arch=arm64'], unknownKeys: [{ filter: 'arches=amd64', key: 'arches', nearestKeys: ['arch'] }], unmatchedValues: [], andedAlternatives: [['release=jammy', 'arch=arm64']], sameKeyAlternatives: [] },
    lacksBootloaders: true,
  },
  entries: [{ change: 'add' as const, contentId: 'c', product: 'p', version: 'v', item: 'i', path: 'p/v/i', size: 10 }],
};
const mirrorOutcome: MirrorOutcome = {
  jobId,
  dryRun: false,
  trust,
  plan,
  filesFetched: 1,
  bytesFetched: 10,
  filesPresent: 0,
  removedPaths: ['old/file'],
  failures: [{ path: 'a/b', url: 'http://127.0.0.1:1/a/b', error }],
  metadataWritten: ['streams/v1/index.sjson'],
  mirrored: [{ contentId: 'c', product: 'p', os: 'ubuntu', release: 'noble', arch: 'amd64', subarch: 'ga-24.04', label: 'stable' }],
  productsNotMirrored: 2,
};

const bundleSummary: BundleSummary = {
  bundleId: '20261130T054000Z-3fa9c2d1',
  created: '2026-11-30T05:40:00.000Z',
  volumes: { given: [1], missing: [2], count: 2 },
  base: { kind: 'site', id: '20261101T054000Z-0a9c2d11' },
  trust,
  signatures: [{ path: 'streams/v1/index.sjson', keyFingerprint: 'ABCDEF', signedAt: '2026-11-29T05:40:00.000Z' }],
};
const blobProblem = { sha256: 'a'.repeat(64), paths: ['a/b'], storagePath: 'blobs/sha256/aa/' + 'a'.repeat(64), volume: 2, error };

/** A sample outcome of every kind of job: typed over JobKind, so a new kind needs one here. */
const outcomeSamples: { [K in JobKind]: JobOutcomes[K] } = {
  load: { streamId: jobId, source: 'stable', trust, metadataFiles: 3, productsFiles: [{ contentId: 'com.ubuntu.maas:stable:v3:download', path: 'streams/v1/x.sjson', products: 2 }], signatures: bundleSummary.signatures },
  mirror: mirrorOutcome,
  sync: { ...mirrorOutcome, libraryDir: '/lib', profile: 'lab', snapshotId: 4 },
  gc: { libraryDir: '/lib', dryRun: false, jobId, removedBlobs: [{ sha256: 'b'.repeat(64), size: 3 }], removedPartials: [{ name: 'x.partial', size: 1 }], partialsKept: 0, bytesFreed: 4 },
  verify: { ...bundleSummary, complete: false, valid: false, missing: [blobProblem], bad: [{ ...blobProblem, storagePath: null, volume: null }], atSite: [{ sha256: 'c'.repeat(64), paths: ['c/d'] }], blobsChecked: 3, bytesChecked: 30 },
  import: {
    ...bundleSummary,
    target: '/tree',
    complete: true,
    filesWritten: ['a/b'],
    filesKept: 1,
    bytesWritten: 10,
    missing: [],
    metadataWritten: ['streams/v1/index.sjson'],
    pruned: ['old/file'],
    maas: {
      url: 'http://10.0.0.1:8080/',
      urlIsGuess: true,
      keyringFilename: '/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg',
      keyringNote: 'the Ubuntu cloud image keyring MAAS ships',
      commands: [{ purpose: 'Add the mirror as a boot source', argv: ['maas', '$PROFILE', 'boot-sources', 'create', 'url=http://10.0.0.1:8080/'] }],
    },
  },
  export: {
    jobId,
    dryRun: false,
    bundleId: bundleSummary.bundleId,
    directories: ['/drive/FERRY/20261130T054000Z-3fa9c2d1'],
    plan: {
      layout: 'bundle',
      files: 4,
      blobs: 3,
      blobsCarried: 2,
      bytesCarried: 20,
      bytesNeeded: 30,
      marginBytes: 10,
      freeBytes: null,
      fsType: 'vfat',
      filesystem: 'fat32',
      volumes: 1,
      splitBlobs: 0,
      base: null,
      warnings: ['a:b'],
    },
    written: { blobsWritten: 2, blobsKept: 0, bytesWritten: 20 },
    verified: { files: 2, bytes: 20, method: 'mixed', bad: [{ path: 'blobs/x', expected: 'a', actual: 'b' }] },
    ejected: { kind: 'busy', mountPoint: '/media/usb', holders: [{ pid: 4242, command: 'tail' }], tool: 'umount', message: 'target is busy' },
    trustWarnings: [],
    signatures: [{ path: 'streams/v1/index.sjson', keyFingerprint: 'ABCDEF', signedAt: '2026-11-01T00:00:00.000Z' }],
    ledgerSite: 'dc1',
  },
};

const eventSamples: { [T in JobEventType]: Extract<JobEvent, { type: T }> } = {
  loaded: { type: 'loaded', jobId, source: 'stable', trust, metadataFiles: 3 },
  repaired: {
    type: 'repaired',
    jobId,
    report: { finding: 'interrupted-run', tempFilesRemoved: 1, partialFilesKept: 2, treeFilesDropped: 0, heldItemsDropped: 0 },
  },
  plan: { type: 'plan', jobId, plan },
  'export-verdict': { type: 'export-verdict', jobId, plan: outcomeSamples.export.plan },
  progress: { type: 'progress', jobId, progress },
  'file-done': { type: 'file-done', jobId, path: 'a/b', outcome: 'fetched' },
  'file-failed': { type: 'file-failed', jobId, path: 'a/b', url: 'http://127.0.0.1:1/a/b', error },
  removed: { type: 'removed', jobId, path: 'old/file' },
  'metadata-written': { type: 'metadata-written', jobId, paths: ['streams/v1/index.sjson'] },
  'target-needed': { type: 'target-needed', jobId, volume: 2, volumes: 3, bytes: 14_200_000_000, done: [{ volume: 1, directory: '/media/a/FERRY/20261130T054000Z-3fa9c2d1' }], problem: null },
  retry: { type: 'retry', jobId, url: 'http://127.0.0.1:1/a/b', attempt: 1, maxAttempts: 5, delayMs: 1000, retryAfter: false, cause: error },
  result: { type: 'result', jobId, kind: 'sync', outcome: { ...mirrorOutcome, libraryDir: '/lib', profile: undefined, snapshotId: 4 } },
  failed: { type: 'failed', jobId, kind: 'gc', error: { name: 'InternalError', message: 'boom' } },
  cancelled: { type: 'cancelled', jobId, kind: 'mirror', reason: { name: 'FerryError', code: 'FERRY_CANCELLED', message: 'The job was cancelled.' }, partialsDiscarded: 2 },
  paused: { type: 'paused', jobId, kind: 'sync', reason: { name: 'FerryError', code: 'FERRY_CANCELLED', message: 'paused' } },
};

const inputSamples: { [K in JobKind]: JobInputs[K] } = {
  load: { source: 'stable', path: 'streams/v1/index.sjson', keyringFiles: ['/k.gpg'], verify: true, proxy: 'http://127.0.0.1:3128', retries: 2, stallTimeoutMs: 5000 },
  mirror: {
    stream: { streamId: jobId },
    target: join(nowhere, 'mirror'),
    selection: [['arch=amd64', 'release~(jammy|noble)'], ['os~(grub*|pxelinux)']],
    max: 1,
    keep: true,
    fetchItems: true,
    concurrency: 4,
    connectionsPerHost: 4,
    progressIntervalMs: 200,
    directIo: false,
    dryRun: false,
    verifyExisting: true,
  },
  sync: { library: join(nowhere, 'library'), stream: { keyringFiles: [], verify: false }, profile: 'lab' },
  gc: { library: join(nowhere, 'library'), dryRun: true },
  verify: { bundles: [join(nowhere, 'FERRY', '20261130T054000Z-3fa9c2d1')], keyringFiles: ['/k.gpg'], progressIntervalMs: 200 },
  import: { bundles: [join(nowhere, 'usb1'), join(nowhere, 'usb2')], target: join(nowhere, 'tree'), prune: true, serveUrl: 'http://10.0.0.1:8080/' },
  export: {
    to: join(nowhere, 'drive'),
    library: join(nowhere, 'library'),
    source: 'stable',
    selection: [['arch=amd64']],
    max: 1,
    keyringFiles: ['/k.gpg'],
    site: 'dc1',
    volumeSize: 1024 * 1024 * 1024,
    partSize: 1024 * 1024,
    layout: 'bundle',
    dryRun: true,
    progressIntervalMs: 200,
  },
};

describe('plain data', () => {
  it('has a sample of every event type the engine lists', () => {
    expect(Object.keys(eventSamples).sort()).toEqual([...JOB_EVENT_TYPES].sort());
  });

  it.each(JOB_EVENT_TYPES)('event %s survives structuredClone and JSON', (type) => {
    expectPlainData(eventSamples[type], type);
  });

  it.each(JOB_EVENT_TYPES)('event %s is what the contract describes, field for field', (type) => {
    // zod drops fields a schema does not name, so equality proves the schema names them all.
    expect(jobEventSchema.parse(eventSamples[type])).toEqual(eventSamples[type]);
  });

  it.each(Object.keys(outcomeSamples) as JobKind[])('the %s outcome survives structuredClone and JSON, and is what the contract describes', (kind) => {
    const event = { type: 'result', jobId, kind, outcome: outcomeSamples[kind] } as const;
    expectPlainData(event, kind);
    expect(jobEventSchema.parse(event)).toEqual(event);
  });

  it.each(Object.keys(inputSamples) as JobKind[])('the %s input is what its contract schema describes, field for field', (kind) => {
    expect(jobInputSchemas[kind].parse(inputSamples[kind])).toEqual(inputSamples[kind]);
    // The job history (jobs.json) keeps it whole, so a resumed job runs the same input again.
    const status = { id: jobId, kind, input: inputSamples[kind], state: 'interrupted', startedAt: '2026-11-30T05:40:00.000Z' } as const;
    expect(jobStatusSchema.parse(status)).toEqual(status);
  });

  it.each(Object.keys(inputSamples) as JobKind[])('the %s input survives structuredClone and JSON, and the engine accepts it', async (kind) => {
    expectPlainData(inputSamples[kind], kind);
    // Accepted means validation passed and a job exists; cancelled before it starts, it does nothing.
    const job = createEngine().startJob(kind, inputSamples[kind]);
    const outcomes: string[] = [];
    job.subscribe((event) => outcomes.push(event.type));
    job.cancel();
    expect(job.kind).toBe(kind);
    await expect(job.result).rejects.toMatchObject({ code: 'FERRY_CANCELLED' });
    expect(outcomes).toEqual(['cancelled']);
    expect(existsSync(nowhere)).toBe(false);
  });

  it('refuses a malformed input before a job exists, naming the field', () => {
    const engine = createEngine();
    const refused = (run: () => unknown): unknown => {
      try {
        run();
      } catch (caught) {
        return caught;
      }
      return undefined;
    };
    expect(refused(() => engine.startJob('mirror', { ...inputSamples.mirror, concurrency: 0 }))).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'concurrency' });
    expect(refused(() => engine.startJob('mirror', { ...inputSamples.mirror, selection: 'arch=amd64' as unknown as string[][] }))).toMatchObject({
      code: 'FERRY_INPUT_INVALID',
      field: 'selection',
    });
    expect(refused(() => engine.startJob('sync', { library: join(nowhere, 'library') }))).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'stream' });
    // A saved selection may take max for one run (issue 11 §2), nothing else of a selection.
    expect(refused(() => engine.startJob('sync', { profile: 'lab', keep: true }))).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'keep' });
    expect(refused(() => engine.startJob('sync', { profile: 'lab', max: -1 }))).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'max' });
    expect(refused(() => engine.startJob('load', { source: 'stable', retries: -1 }))).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'retries' });
    expect(refused(() => engine.startJob('mirror', { ...inputSamples.mirror, selection: [['arch']] }))).toMatchObject({ code: 'FERRY_FILTER_INVALID' });
    expect(refused(() => engine.startJob('import', { ...inputSamples.import, bundles: [] }))).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'bundles' });
    expect(refused(() => engine.startJob('verify', { bundles: ['/a', ''] }))).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'bundles', expected: 'a list of one or more bundle paths' });
    // The export's cross-field rules: a tree has no ledger, the library needs something to read, one base, a plain tree is one volume.
    const fromLibrary = { ...inputSamples.export, site: undefined };
    expect(refused(() => engine.startJob('export', { ...inputSamples.export, tree: '/tree' }))).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'site' });
    expect(refused(() => engine.startJob('export', { to: '/drive' }))).toMatchObject({
      code: 'FERRY_INPUT_INVALID',
      field: 'source',
      message: 'source must be a source synced into the library, unless profile or tree is given, not nothing.',
    });
    expect(refused(() => engine.startJob('export', { ...inputSamples.export, since: '/r.json' }))).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'since' });
    expect(refused(() => engine.startJob('export', { ...fromLibrary, layout: 'tree' }))).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'layout', actual: 'the string "tree"' });
    expect(refused(() => engine.startJob('export', { ...fromLibrary, layout: 'flat' as 'tree' }))).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'layout', expected: 'bundle or tree' });
    expect(refused(() => engine.startJob('export', { ...fromLibrary, max: 0 }))).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'max', expected: 'a whole number, 1 or more' });
    expect(engine.jobs()).toEqual([]);
  });
});
