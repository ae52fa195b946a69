// Must fail: streams/ may not reach into net/.
import { fetchBytes } from '../net/fetch-bytes.js';

export const fetcher = fetchBytes;
