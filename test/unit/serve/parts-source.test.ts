import { createHash } from 'node:crypto';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPartsSource, listen, type PartedFile, type RequestRecord, type RunningServer } from '../../../src-main/serve/index.js';
import { expectFerryError } from '../../support/expect-ferry-error.js';
import { rawRequest } from '../../support/ferry-serve.js';

// A file stored as parts laid end to end (how a bundle holds a file over FAT32's limit), served
// by the real server on 127.0.0.1: ranges inside one part, across a boundary, across all parts.

const PART_SIZES = [1000, 1, 2500, 0, 777];
let workDir: string;
let whole: Buffer;
let files: Map<string, PartedFile>;
let server: RunningServer;
let baseUrl: string;
const records: RequestRecord[] = [];

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ferry-serve-parts-'));
  whole = Buffer.alloc(PART_SIZES.reduce((sum, size) => sum + size, 0));
  for (let index = 0; index < whole.length; index += 1) whole[index] = (index * 7 + 3) % 251;
  const parts = [];
  let offset = 0;
  for (const [index, size] of PART_SIZES.entries()) {
    const path = join(workDir, `part-${index}`);
    await writeFile(path, whole.subarray(offset, offset + size));
    parts.push({ path, size });
    offset += size;
  }
  const sha256 = createHash('sha256').update(whole).digest('hex');
  await writeFile(join(workDir, 'blob'), 'one blob');
  files = new Map([
    ['noble/amd64/20250615/squashfs', { parts, sha256 }],
    ['streams/v1/com.ubuntu.maas:stable:v3:download.sjson', { parts: [{ path: join(workDir, 'blob'), size: 8 }], sha256: 'ab'.repeat(32) }],
  ]);
  server = await listen({ source: createPartsSource(files), host: '127.0.0.1', port: 0, onRequest: (record) => records.push(record) });
  baseUrl = `http://127.0.0.1:${server.port}/`;
});

afterAll(async () => {
  await server.close(1000);
  await rm(workDir, { recursive: true, force: true });
});

describe('parts source', () => {
  it('serves the whole file as the parts concatenated, tagged by its sha256', async () => {
    const response = await rawRequest(baseUrl, '/noble/amd64/20250615/squashfs');
    expect(response.status).toBe(200);
    expect(response.body.equals(whole)).toBe(true);
    expect(response.headers['etag']).toBe(`"sha256-${files.get('noble/amd64/20250615/squashfs')?.sha256 ?? ''}"`);
  });

  it('serves every range exactly, whichever parts it starts and ends in', async () => {
    // Boundaries at 1000, 1001, 3501 (the empty part adds none), end at 4277.
    const ranges: Array<[number, number]> = [[0, 0], [0, 999], [999, 1000], [1000, 1000], [1000, 1001], [998, 3502], [3500, 3501], [3501, 4277], [0, 4277], [4277, 4277], [17, 4000]];
    for (const [start, end] of ranges) {
      const response = await rawRequest(baseUrl, '/noble/amd64/20250615/squashfs', { headers: { Range: `bytes=${start}-${end}` } });
      expect(response.status, `${start}-${end}`).toBe(206);
      expect(response.headers['content-range']).toBe(`bytes ${start}-${end}/${whole.length}`);
      expect(response.body.equals(whole.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
    }
  });

  it('serves a one-part file (a whole blob) under a path with colons, encoded or not', async () => {
    for (const target of ['/streams/v1/com.ubuntu.maas:stable:v3:download.sjson', '/streams/v1/com.ubuntu.maas%3Astable%3Av3%3Adownload.sjson']) {
      const response = await rawRequest(baseUrl, target);
      expect(response.status, target).toBe(200);
      expect(response.body.toString()).toBe('one blob');
    }
    expect((await rawRequest(baseUrl, '/streams/v1/index.sjson')).status).toBe(404);
  });

  it('refuses a part shorter than recorded: 500 from the server, FERRY_IO naming the part from resolve', async () => {
    const broken = join(workDir, 'broken');
    await writeFile(broken, 'short');
    const source = createPartsSource(new Map([['x', { parts: [{ path: broken, size: 5 }], sha256: '00' }]]));
    await truncate(broken, 3);
    const error = await expectFerryError(source.resolve('x'), 'FERRY_IO');
    expect(error.path).toBe(broken);
    expect(error.message).toContain('3 bytes, not 5');

    await truncate(join(workDir, 'part-2'), 10);
    try {
      const response = await rawRequest(baseUrl, '/noble/amd64/20250615/squashfs');
      expect(response.status).toBe(500);
      expect(records.at(-1)?.error?.code).toBe('FERRY_IO');
    } finally {
      await writeFile(join(workDir, 'part-2'), whole.subarray(1001, 3501));
    }
  });
});
