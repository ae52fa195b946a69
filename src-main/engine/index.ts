// The engine's public surface: faces import from here and nowhere else in src-main.
export { FerryError, ERROR_CODES, describeError, isFerryError, redactUrl } from '../base/errors.js';
export type { FerryErrorCode, SerializedFerryError } from '../base/errors.js';
export type { Progress, FileProgress, ProgressStep } from '../base/progress.js';
export { bundledKeyringPath, productVersion, rendererDir, userAgent } from './install.js';
export { attachPort, createApiService, toApiError, EVENTS_KEPT_PER_JOB } from './service.js';
export type { ApiConnection, ApiService, ApiServiceOptions, PortEndpoint } from './service.js';
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
export { JOB_DEFAULTS } from './defaults.js';
export { listDrives } from './drives.js';
export type { DriveListing, HiddenDrive, ListDrivesOptions } from './drives.js';
export { displayWidth, safeText } from '../media/index.js';
export type { CommandResult, CommandRunner, Drive, Volume } from '../media/index.js';
export { DEFAULT_BIND_ADDRESS, DEFAULT_SERVE_PORT, STOP_GRACE_MS, startServe } from './serve.js';
export type { ServeHandle, ServeOptions } from './serve.js';
export type { RequestRecord } from '../serve/index.js';
