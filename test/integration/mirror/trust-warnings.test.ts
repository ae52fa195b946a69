import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSigningKey, type SigningKey } from '../../../src-main/pgp/index.js';
import { startFixtureServer, type FixtureServer } from '../../support/fixture-server.js';
import { runFerry } from '../../support/run-ferry.js';
import { generateStream } from '../../support/stream-generator.js';
import { lastLine } from '../export/helpers.js';

// `ferry mirror`, `ferry sync` (and, across the air gap, export, verify and import) say how old the signatures are and warn about keys of the
// keyring that expire within 90 days or have expired: a stream signed by a key made here to expire
// 30 days from now, and a keyring that also holds a key that expired last year.

const DAY_MS = 24 * 60 * 60 * 1000;

let workDir: string;
let signer: SigningKey;
let expired: SigningKey;
let keyringFile: string;
let server: FixtureServer;
let indexUrl: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ferry-trust-warnings-'));
  const now = Date.now();
  signer = await createSigningKey({ name: 'Soon', email: 'soon@test.invalid', createdAt: new Date(now - 10 * DAY_MS), expiresAfterSeconds: 40 * 24 * 3600 });
  expired = await createSigningKey({ name: 'Old', email: 'old@test.invalid', createdAt: new Date(now - 400 * DAY_MS), expiresAfterSeconds: 200 * 24 * 3600 });
  keyringFile = join(workDir, 'keyring.gpg');
  await writeFile(keyringFile, Buffer.concat([signer.publicKeyBinary, expired.publicKeyBinary]));
  const stream = await generateStream(join(workDir, 'stream'), { signingKey: signer, contents: ['ubuntu'], releases: ['jammy'], versions: 1 });
  server = await startFixtureServer({ root: stream.baseDir });
  indexUrl = `${server.url}streams/v1/index.sjson`;
});

afterAll(async () => {
  await server.close();
  await rm(workDir, { recursive: true, force: true });
});

describe('trust warnings on stderr', () => {
  for (const command of ['mirror', 'sync'] as const) {
    it(`ferry ${command} prints the signatures' age and the keyring's expiring and expired keys`, async () => {
      const args =
        command === 'mirror'
          ? ['mirror', '--keyring', keyringFile, indexUrl, join(workDir, 'mirror')]
          : ['sync', '--library', join(workDir, 'library'), '--keyring', keyringFile, indexUrl];
      const run = await runFerry(args);
      expect(run.stderr).toContain('Signatures are 0 days old (signed ');
      expect(run.stderr).toMatch(new RegExp(`WARNING: key ${signer.fingerprint} in the keyring expires in (29|30) days \\(\\d{4}-\\d{2}-\\d{2}\\)`));
      expect(run.stderr).toMatch(new RegExp(`WARNING: key ${expired.fingerprint} in the keyring expired on \\d{4}-\\d{2}-\\d{2}`));
      expect(run.code).toBe(0);
    });
  }
});

describe('trust warnings across the air gap', () => {
  it('ferry export, verify and import print them, and their --json outcomes carry them', async () => {
    const tree = join(workDir, 'tree-for-export');
    expect((await runFerry(['mirror', '--keyring', keyringFile, indexUrl, tree])).code).toBe(0);
    const expectWarnings = (stderr: string): void => {
      expect(stderr).toContain('Signatures are 0 days old (signed ');
      expect(stderr).toMatch(new RegExp(`WARNING: key ${signer.fingerprint} in the keyring expires in (29|30) days`));
      expect(stderr).toMatch(new RegExp(`WARNING: key ${expired.fingerprint} in the keyring expired on \\d{4}-\\d{2}-\\d{2}`));
    };
    type Warned = { kind: string; fingerprint?: string };
    const expectWarned = (warnings: Warned[]): void => {
      expect(warnings.map((warning) => warning.kind).sort()).toEqual(['key-expired', 'key-expires-soon', 'signature-age']);
      expect(warnings.find((warning) => warning.kind === 'key-expired')?.fingerprint).toBe(expired.fingerprint);
    };

    const target = join(workDir, 'usb');
    await mkdir(target);
    const exported = await runFerry(['export', '--to', target, '--tree', tree, '--keyring', keyringFile]);
    expect(exported.code, exported.stderr).toBe(0);
    expectWarnings(exported.stderr);
    const exportedJson = await runFerry(['export', '--json', '--dry-run', '--to', target, '--tree', tree, '--keyring', keyringFile]);
    expectWarned((JSON.parse(lastLine(exportedJson)) as { trustWarnings: Warned[] }).trustWarnings);

    const verified = await runFerry(['verify', '--keyring', keyringFile, target]);
    expect(verified.code, verified.stderr).toBe(0);
    expectWarnings(verified.stderr);
    const verifiedJson = await runFerry(['verify', '--json', '--keyring', keyringFile, target]);
    expectWarned((JSON.parse(lastLine(verifiedJson)) as { trust: { warnings: Warned[] } }).trust.warnings);

    const imported = await runFerry(['import', '--keyring', keyringFile, target, '--into', join(workDir, 'imported')]);
    expect(imported.code, imported.stderr).toBe(0);
    expectWarnings(imported.stderr);
    const importedJson = await runFerry(['import', '--json', '--keyring', keyringFile, target, '--into', join(workDir, 'imported')]);
    expectWarned((JSON.parse(lastLine(importedJson)) as { trust: { warnings: Warned[] } }).trust.warnings);
  });
});
