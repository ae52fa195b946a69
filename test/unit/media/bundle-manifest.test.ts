import { describe, expect, it } from 'vitest';
import { isFerryError } from '../../../src-main/base/errors.js';
import {
  blobStoragePaths,
  formatChecksums,
  newRecordId,
  parseBundleManifest,
  parseChecksums,
  parseReceipt,
  type BundleManifest,
} from '../../../src-main/media/index.js';
import { MANIFEST_HEADER } from '../../support/bundle-builder.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

function manifest(overrides: Partial<BundleManifest> = {}): BundleManifest {
  return {
    ...MANIFEST_HEADER,
    id: '20261130T054000Z-3fa9c2d1',
    selection: [['arch=amd64']],
    max: 1,
    site: null,
    base: null,
    volume: { index: 1, count: 1 },
    files: [
      { path: 'streams/v1/index.sjson', size: 10, sha256: A, role: 'metadata' },
      { path: 'server/jammy/root.squashfs', size: 6, sha256: B, role: 'item' },
    ],
    blobs: [{ sha256: A, size: 10 }, { sha256: B, size: 6, parts: [{ size: 4, sha256: A }, { size: 2, sha256: B }] }],
    volumes: [{ index: 1, blobs: 2, bytes: 16 }],
    signature: null,
    ...overrides,
  };
}

function refusal(text: string): { code: string; field: string | undefined } {
  try {
    parseBundleManifest(text, 'bundle.json');
  } catch (error) {
    if (isFerryError(error)) return { code: error.code, field: error.field };
    throw error;
  }
  throw new Error('accepted');
}

describe('bundle.json', () => {
  it('reads back what docs/bundle.md describes', () => {
    const parsed = parseBundleManifest(JSON.stringify(manifest()), 'bundle.json');
    expect(parsed.files).toHaveLength(2);
    const parted = parsed.blobs[1];
    if (parted === undefined) throw new Error('the parted blob was dropped');
    expect(blobStoragePaths(parted)).toEqual([
      { path: `blobs/sha256/bb/${B}.part-1`, size: 4, sha256: A },
      { path: `blobs/sha256/bb/${B}.part-2`, size: 2, sha256: B },
    ]);
  });

  it('refuses traversal, duplicates, metadata outside streams/v1, unknown fields and bad parts, naming the field', () => {
    const item = (path: string) => ({ path, size: 1, sha256: B, role: 'item' as const });
    expect(refusal(JSON.stringify(manifest({ files: [item('../etc/passwd')] })))).toEqual({ code: 'FERRY_BUNDLE_INVALID', field: 'files[0].path' });
    expect(refusal(JSON.stringify(manifest({ files: [item('a/b'), item('a/b')] })))).toEqual({ code: 'FERRY_BUNDLE_INVALID', field: 'files[1].path' });
    expect(refusal(JSON.stringify(manifest({ files: [item('a'), item('a/b')] }))).field).toBe('files');
    expect(refusal(JSON.stringify(manifest({ files: [item('streams/v1/x.sjson')] }))).field).toBe('files[0].path');
    expect(refusal(JSON.stringify({ ...manifest(), extra: 1 })).code).toBe('FERRY_BUNDLE_INVALID');
    expect(refusal(JSON.stringify(manifest({ blobs: [{ sha256: B, size: 7, parts: [{ size: 4, sha256: A }, { size: 2, sha256: B }] }] }))).field).toBe('blobs.0.parts');
    expect(refusal(JSON.stringify(manifest({ volume: { index: 3, count: 2 } }))).field).toBe('volume');
    expect(refusal('{').code).toBe('FERRY_BUNDLE_INVALID');
  });

  it('names a newer format version as too new rather than invalid', () => {
    expect(refusal(JSON.stringify({ ...manifest(), formatVersion: 2, somethingNew: true })).code).toBe('FERRY_BUNDLE_TOO_NEW');
  });
});

describe('receipts, ids and SHA256SUMS', () => {
  it('parses a receipt and refuses one with a bad digest', () => {
    const receipt = { format: 'stream-ferry-receipt', formatVersion: 1, id: '20261130T054000Z-00000000', created: '2026-11-30T05:40:00Z', tool: { name: 'stream-ferry', version: '0.1.0' }, site: null, metadata: [], blobs: [{ sha256: A, size: 1 }] };
    expect(parseReceipt(JSON.stringify(receipt), 'r.json').blobs).toHaveLength(1);
    expect(() => parseReceipt(JSON.stringify({ ...receipt, blobs: [{ sha256: 'A', size: 1 }] }), 'r.json')).toThrow(/blobs\.0\.sha256/);
  });

  it('makes sortable ids', () => {
    expect(newRecordId(new Date('2026-11-30T05:40:00.123Z'), '0123abcd')).toBe('20261130T054000Z-0123abcd');
  });

  it('round-trips SHA256SUMS in the form sha256sum -c reads, sorted by path', () => {
    const text = formatChecksums([{ path: 'b', sha256: B }, { path: 'a', sha256: A }]);
    expect(text).toBe(`${A}  a\n${B}  b\n`);
    expect([...parseChecksums(text, 'SHA256SUMS')]).toEqual([['a', A], ['b', B]]);
    expect(() => parseChecksums(`${A}  a\n${A}  a\n`, 'SHA256SUMS')).toThrow(/line 2/);
  });
});
