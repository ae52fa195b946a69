import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { generateStream } from '../support/stream-generator.js';

// Runs in Node, outside jsdom: the stream generator signs with openpgp, which cannot load under
// jsdom. One unsigned MAAS-shaped stream for the renderer tests, removed at the end.

declare module 'vitest' {
  export interface ProvidedContext {
    streamDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const workDir = await mkdtemp(join(tmpdir(), 'ferry-renderer-stream-'));
  const streamDir = join(workDir, 'stream');
  await generateStream(streamDir, { releases: ['jammy', 'noble'], arches: ['amd64', 'arm64'], versions: 2, payloads: 'none' });
  project.provide('streamDir', streamDir);
  return () => rm(workDir, { recursive: true, force: true });
}
