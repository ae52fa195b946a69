// Must fail: domain folders never import the engine (it sits above them).
import { userAgent } from '../engine/install.js';

export const agent = userAgent;
