// serve/: read-only HTTP over a mirror tree, or over any FileSource (a bundle's blobs and parts).
export type { FileSource, SourceFile } from './file-source.js';
export { createPartsSource } from './parts-source.js';
export type { FilePart, PartedFile } from './parts-source.js';
export { parseRequestPath } from './request-path.js';
export type { RequestPath } from './request-path.js';
export { listen } from './server.js';
export type { ListenOptions, RequestRecord, RunningServer } from './server.js';
export { openTreeSource } from './tree-source.js';
