import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectLatestSnapshotsPresent, expectRecordedRunsConsistent } from '../../support/published-state.js';
import { generateStream } from '../../support/stream-generator.js';
import { filesOf, listedItems, twoProductStream } from '../mirror/helpers.js';
import { blobsOnDisk, ferryOk, gcOutcome, sha256Hex, startSmallStream, stopSmallStream, upstreamMetadata, type SmallStream } from './helpers.js';

// What gc keeps is decided by selections applied to the latest metadata (issue 7 §2): the one the
// latest snapshot recorded and every saved selection of that source; a snapshot recorded before
// snapshots recorded their selection keeps everything its metadata names.

afterEach(expectRecordedRunsConsistent);

let stream: SmallStream | undefined;
// The small stream's folder, which its server serves; each test writes its own stream there.
const streamDir = (): string => join(started().workDir, 'stream');
const started = (): SmallStream => {
  if (stream === undefined) throw new Error('beforeAll started the stream');
  return stream;
};

beforeAll(async () => {
  stream = await startSmallStream('gc-selections', 8);
});

afterAll(() => stopSmallStream(stream));

/** The sha256 of each file upstream lists now for one release's newest version. */
async function newestFilesOf(release: string): Promise<Set<string>> {
  const items = await listedItems(streamDir(), { max: 1, product: (fields) => fields.release === release });
  expect(items.length).toBeGreaterThan(0);
  return new Set([...filesOf(items).values()].map((file) => file.sha256));
}

/** Edits the catalog as any SQLite client would, between runs. */
function editCatalog(library: string, sql: string): number {
  const db = new Database(join(library, 'catalog.db'), { fileMustExist: true });
  try {
    return db.prepare(sql).run().changes;
  } finally {
    db.close();
  }
}

describe('ferry gc keeps what the selections want', () => {
  it('keeps the files of two profiles on one source (jammy, noble), each synced in turn, and only those', async () => {
    const library = join(started().workDir, 'profiles');
    const sync = (profile: string, filters: string[] = []): ReturnType<typeof ferryOk> =>
      ferryOk(['sync', '--library', library, '--keyring', started().testKey.keyringFile, '--profile', profile, ...filters]);
    await generateStream(streamDir(), twoProductStream(started().testKey.key, 1));
    await sync('jammy', ['--max', '1', started().source, 'release=jammy']);
    await sync('noble', ['--max', '1', started().source, 'release=noble']);
    const firstJammy = await newestFilesOf('jammy');
    const firstNoble = await newestFilesOf('noble');
    expect(gcOutcome(await ferryOk(['gc', '--library', library, '--json'])).removedBlobs).toEqual([]);

    // Upstream adds a version of both and keeps the old one; each profile is rerun by name.
    await generateStream(streamDir(), twoProductStream(started().testKey.key, 2));
    await sync('jammy');
    await sync('noble');
    const jammy = await newestFilesOf('jammy');
    const noble = await newestFilesOf('noble');
    const metadata = [...(await upstreamMetadata(streamDir())).values()].map(sha256Hex);
    const gc = gcOutcome(await ferryOk(['gc', '--library', library, '--json']));
    const retired = [...firstJammy, ...firstNoble].filter((sha256) => !jammy.has(sha256) && !noble.has(sha256));
    expect(retired.length).toBeGreaterThan(0);
    for (const sha256 of retired) expect(gc.removedBlobs.map((blob) => blob.sha256), `retired ${sha256}`).toContain(sha256);
    expect(new Set((await blobsOnDisk(library)).keys())).toEqual(new Set([...jammy, ...noble, ...metadata]));
    await expectLatestSnapshotsPresent(library);

    // The catalog no longer says jammy is held (rows lost): the jammy profile still wants its files
    // from the latest metadata (the noble run's snapshot), so gc keeps them.
    const jammyOnly = [...jammy].filter((sha256) => !noble.has(sha256));
    expect(editCatalog(library, `DELETE FROM items WHERE sha256 IN (${jammyOnly.map((sha256) => `'${sha256}'`).join(', ')})`)).toBeGreaterThan(0);
    expect(gcOutcome(await ferryOk(['gc', '--library', library, '--json'])).removedBlobs).toEqual([]);
    for (const sha256 of jammy) expect((await blobsOnDisk(library)).has(sha256), `jammy ${sha256}`).toBe(true);
    // Without the profile, nothing wants them any more.
    expect(editCatalog(library, "DELETE FROM selections WHERE name = 'jammy'")).toBe(1);
    const last = gcOutcome(await ferryOk(['gc', '--library', library, '--json']));
    expect(new Set(last.removedBlobs.map((blob) => blob.sha256))).toEqual(new Set(jammyOnly));
  });

  it('keeps every file an old-format snapshot (no selection recorded) names, and collects them once a sync records one', async () => {
    const library = join(started().workDir, 'old-format');
    const sync = (): ReturnType<typeof ferryOk> => ferryOk(['sync', '--library', library, '--keyring', started().testKey.keyringFile, '--max', '1', started().source]);
    await generateStream(streamDir(), twoProductStream(started().testKey.key, 1));
    await sync();
    const first = new Set([...(await newestFilesOf('jammy')), ...(await newestFilesOf('noble'))]);
    await generateStream(streamDir(), twoProductStream(started().testKey.key, 2));
    await sync();
    // As recorded before catalog schema 3: the selection of the run is unknown.
    expect(editCatalog(library, 'UPDATE snapshots SET filter_groups = NULL, max_versions = NULL, keep = NULL')).toBeGreaterThan(0);
    const conservative = gcOutcome(await ferryOk(['gc', '--library', library, '--json']));
    const removed = new Set(conservative.removedBlobs.map((blob) => blob.sha256));
    for (const sha256 of first) expect(removed.has(sha256), `old version's ${sha256}, still listed upstream`).toBe(false);
    for (const sha256 of first) expect((await blobsOnDisk(library)).has(sha256)).toBe(true);

    // The next sync records its selection (--max 1): the old version's files go.
    await sync();
    const current = new Set([...(await newestFilesOf('jammy')), ...(await newestFilesOf('noble'))]);
    const collected = new Set(gcOutcome(await ferryOk(['gc', '--library', library, '--json'])).removedBlobs.map((blob) => blob.sha256));
    const retired = [...first].filter((sha256) => !current.has(sha256));
    expect(retired.length).toBeGreaterThan(0);
    expect(new Set(retired)).toEqual(collected);
  });
});
