import type { BundleManifest } from '../../src-main/media/index.js';

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
