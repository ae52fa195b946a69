// Must fail: faces call the engine, never a domain module directly.
import { parseSelection } from '../streams/filters.js';

export const selection = parseSelection;
