// The engine's public surface: faces import from here and nowhere else in src-main.
export { FerryError, ERROR_CODES, describeError, isFerryError, redactUrl } from '../base/errors.js';
export type { FerryErrorCode, SerializedFerryError } from '../base/errors.js';
export { bundledKeyringPath, productVersion, userAgent } from './install.js';
export { loadStream } from './stream.js';
export type { LoadStreamOptions, LoadedStream, LoadedProductsFile, MetadataFile, RetryEvent, StreamTrust } from './stream.js';
export { queryItems, selectedItems, summarizeProducts } from './query.js';
export type { ProductSummary, QueryItem, QueryOptions } from './query.js';
export { parseSelection, formatSelection } from '../streams/index.js';
export type { Selection } from '../streams/index.js';
export { JOB_DEFAULTS } from './defaults.js';
export { runMirror } from './mirror-job.js';
export type { JobEvent, MirrorOptions, MirrorOutcome, PlanSummary, SelectionOptions, TransferOptions } from './mirror-job.js';
export type { Progress, FileProgress } from '../base/progress.js';
export { runSync } from './sync-job.js';
export type { SyncOptions, SyncOutcome } from './sync-job.js';
export { runGc, runLibrarySummary } from './library.js';
export type { GcOptions, GcOutcome, LibraryLocationOptions, LibraryProduct, LibraryProfile, LibrarySource, LibrarySummary } from './library.js';
