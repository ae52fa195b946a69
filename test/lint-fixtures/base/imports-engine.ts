// Must fail: base/ is the ground floor and imports nothing of ours.
import { loadStream } from '../engine/stream.js';

export const load = loadStream;
