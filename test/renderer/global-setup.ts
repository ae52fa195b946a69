import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { createSigningKey } from '../../src-main/pgp/sign.js';
import { generateStream } from '../support/stream-generator.js';

// Runs in Node, outside jsdom: the stream generator signs with openpgp, which cannot load under
// jsdom. One unsigned MAAS-shaped stream for the renderer tests, and one signed with a key made
// here, with payloads (a squashfs larger than a 4 MiB disk) for a sync and an export; removed at the end.

declare module 'vitest' {
  export interface ProvidedContext {
    streamDir: string;
    /** A signed stream (its entry file) and the keyring that verifies it. */
    signedStream: { entry: string; keyringFile: string };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const workDir = await mkdtemp(join(tmpdir(), 'ferry-renderer-stream-'));
  const streamDir = join(workDir, 'stream');
  await generateStream(streamDir, { releases: ['jammy', 'noble'], arches: ['amd64', 'arm64'], versions: 2, payloads: 'none' });
  project.provide('streamDir', streamDir);
  const key = await createSigningKey({ name: 'renderer tests', email: 'renderer-tests@stream-ferry.invalid' });
  const keyringFile = join(workDir, 'keyring.gpg');
  await writeFile(keyringFile, key.publicKeyBinary);
  const signed = await generateStream(join(workDir, 'signed'), { releases: ['jammy'], arches: ['amd64'], versions: 1, signingKey: key, payloadSizes: { squashfs: 5 * 1024 * 1024 } });
  project.provide('signedStream', { entry: join(workDir, 'signed', signed.indexPath), keyringFile });
  return () => rm(workDir, { recursive: true, force: true });
}
