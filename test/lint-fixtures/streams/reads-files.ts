// Must fail: streams/ is pure, so it may not touch the file system.
import { readFileSync } from 'node:fs';

export const text = readFileSync('index.json', 'utf8');
