// The engine's public surface: faces import from here and nowhere else in src-main.
export { FerryError, ERROR_CODES, describeError, isFerryError, redactUrl } from '../base/errors.js';
export type { FerryErrorCode, SerializedFerryError } from '../base/errors.js';
export type { Progress, FileProgress, ProgressStep } from '../base/progress.js';
export { bundledKeyringPath, productVersion, userAgent } from './install.js';
export { createEngine } from './engine.js';
export type { Engine, EngineOptions, SelectionRequest } from './engine.js';
export type { JobHandle, JobListener } from './jobs.js';
export { JOB_EVENT_TYPES, isOutcomeEvent } from './api.js';
export type {
  GcInput,
  GcOutcome,
  InternalErrorData,
  JobEvent,
  JobEventType,
  JobInputs,
  JobKind,
  JobOutcomes,
  JobState,
  JobStatus,
  LoadOutcome,
  MirrorInput,
  MirrorOutcome,
  PlanSummary,
  RetryEvent,
  SelectionGroups,
  StreamInput,
  StreamRef,
  StreamSettings,
  StreamTrust,
  SyncInput,
  SyncOutcome,
  TransferInput,
} from './api.js';
export { filterGroups } from './job-input.js';
export type { ProductSummary, QueryItem } from './query.js';
export type { LibraryLocationOptions, LibraryProduct, LibraryProfile, LibrarySource, LibrarySummary } from './library.js';
