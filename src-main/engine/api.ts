// The plain-data side of the engine: what a job takes (inputs), what it tells (events) and what it
// ends with (outcomes). Everything here survives structuredClone and JSON unchanged (no RegExp, Map,
// Buffer, class instance or function), so the same values can cross Electron IPC or a WebSocket;
// test/unit/engine/plain-data.test.ts proves it for every event type and every job kind.
// This file imports only types, so every engine file can use it without an import cycle.

import type { JobEvent } from '../contract/index.js';

// The shapes themselves are zod schemas in src-main/contract/ (inputs.ts, outputs.ts), the one
// definition the engine validates with and the renderer imports; these are their z.infer types
// under the names the engine has always used.
export type {
  BundleBlobProblem,
  BundleInput,
  BundleSummary,
  ExportInput,
  ExportOutcome,
  ExportPlanSummary,
  GcInput,
  GcOutcome,
  ImportInput,
  ImportOutcome,
  InternalErrorData,
  JobEvent,
  JobInputs,
  JobKind,
  JobOutcomes,
  JobState,
  JobStatus,
  LoadOutcome,
  MaasCommands,
  MirrorInput,
  MirrorOutcome,
  PlanEntry,
  PlanSummary,
  MirroredProduct,
  RetryEvent,
  SelectionAdvice,
  SelectionGroups,
  SignatureFact,
  StreamInput,
  StreamRef,
  StreamSettings,
  StreamTrust,
  SyncInput,
  SyncOutcome,
  TransferInput,
  TrustWarning,
  VerifyOutcome,
} from '../contract/index.js';

export type JobEventType = JobEvent['type'];

/** An event as job code emits it; the registry stamps the job id. */
export type JobEventBody = WithoutJobId<JobEvent>;
type WithoutJobId<Event> = Event extends unknown ? Omit<Event, 'jobId'> : never;

/**
 * Which events end a job. A Record over the whole union, so the compiler refuses a new event type
 * until someone decides here whether it is an outcome (and the plain-data test enumerates these).
 */
const ENDS_JOB: Record<JobEventType, boolean> = {
  loaded: false,
  repaired: false,
  plan: false,
  'export-verdict': false,
  progress: false,
  'file-done': false,
  'file-failed': false,
  removed: false,
  'metadata-written': false,
  'target-needed': false,
  retry: false,
  result: true,
  failed: true,
  cancelled: true,
  paused: true,
};

export const JOB_EVENT_TYPES = Object.keys(ENDS_JOB) as JobEventType[];

export function isOutcomeEvent(event: JobEvent): event is Extract<JobEvent, { type: 'result' | 'failed' | 'cancelled' | 'paused' }> {
  return ENDS_JOB[event.type];
}
