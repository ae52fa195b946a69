import { resolve } from 'node:path';
import { resolveSource } from '../streams/index.js';
import type { JobInputs, JobKind, StreamInput, StreamRef, StreamSettings } from './api.js';
import { absoluteSettings, isStreamId, type EngineContext } from './job-context.js';
import { reloadableSource } from './stream.js';

// A job interrupted by a crash is resumed by a later engine process (issue 10 §1: "a job
// interrupted by a crash shows as interrupted and can be resumed"). That process has none of the
// streams this one loaded and may run in another directory, so the job history records the input
// in a form that runs again anywhere: a stream given by id as the source and settings it was
// loaded with, and the files and folders the job names as absolute paths.

/** A stream given as a source: its relative local path and file names made absolute; a source resolveSource refuses is kept as given (the job reports it). */
function portableSource(input: StreamInput, cwd: string): StreamInput {
  let located: Pick<StreamInput, 'source' | 'path'>;
  try {
    located = reloadableSource(resolveSource(input.source, { path: input.path, cwd }));
  } catch {
    located = { source: input.source, path: input.path };
  }
  return { ...absoluteSettings(input, cwd), ...located };
}

function portableStream(ref: StreamRef | StreamSettings, context: EngineContext): StreamRef | StreamSettings {
  if (isStreamId(ref)) return context.streams.reloadInput(ref.streamId, context.cwd);
  return 'source' in ref ? portableSource(ref, context.cwd) : absoluteSettings(ref, context.cwd);
}

/**
 * `input` as a job of `kind` can run again in another engine process: for mirror and sync, a
 * stream given by id (`{streamId}`) becomes the source and settings it was loaded with
 * (StreamRegistry.reloadInput), and relative paths (a local source, keyring and certificate files,
 * the mirror's target, the sync's library) become absolute against the engine's cwd. Other kinds
 * are answered as given. Throws FERRY_INPUT_INVALID (field `streamId`) for a stream id this
 * engine does not hold, so it is called while the job's stream is still loaded: when it starts.
 */
export function portableInput<K extends JobKind>(kind: K, input: JobInputs[K], context: EngineContext): JobInputs[K] {
  if (kind === 'mirror') {
    const mirror = input as JobInputs['mirror'];
    return { ...mirror, target: resolve(context.cwd, mirror.target), stream: portableStream(mirror.stream, context) } as JobInputs[K];
  }
  if (kind === 'sync') {
    const sync = input as JobInputs['sync'];
    return {
      ...sync,
      library: sync.library === undefined ? undefined : resolve(context.cwd, sync.library),
      stream: sync.stream === undefined ? undefined : portableStream(sync.stream, context),
    } as JobInputs[K];
  }
  return input;
}
