import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearsign, createSigningKey, type SigningKey } from '../../../src-main/pgp/index.js';
import { startFixtureServer, type FixtureServer } from '../../support/fixture-server.js';
import { runFerry } from '../../support/run-ferry.js';
import { generateStream, tamperFile, type GeneratedStream } from '../../support/stream-generator.js';

const V3_PRODUCTS = 'streams/v1/com.ubuntu.maas:stable:v3:download.sjson';

let workDir: string;
let key: SigningKey;
let keyringFile: string;
let stream: GeneratedStream;
let server: FixtureServer;
let indexUrl: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ferry-query-'));
  key = await createSigningKey({ name: 'Query test', email: 'query@test.invalid' });
  keyringFile = join(workDir, 'keyring.gpg');
  await writeFile(keyringFile, key.publicKeyBinary);
  stream = await generateStream(join(workDir, 'stream'), { signingKey: key, releases: ['jammy', 'noble'], arches: ['amd64', 'arm64'], versions: 2 });
  server = await startFixtureServer({ root: stream.baseDir });
  indexUrl = `${server.url}streams/v1/index.sjson`;
});

afterAll(async () => {
  await server.close();
  await rm(workDir, { recursive: true, force: true });
});

/** A copy of the generated stream that a test may damage without affecting the others. */
async function copyOfStream(name: string): Promise<{ dir: string; server: FixtureServer }> {
  const dir = join(workDir, name);
  await generateStream(dir, { signingKey: key, releases: ['jammy', 'noble'], arches: ['amd64', 'arm64'], versions: 2 });
  return { dir, server: await startFixtureServer({ root: dir }) };
}

describe('ferry query', () => {
  it('prints every verified item as sstream-query does and says what was verified', async () => {
    const run = await runFerry(['query', '--keyring', keyringFile, indexUrl, 'arch=amd64', 'ftype=squashfs']);
    expect(run.stderr).toContain('Verified 4 signed metadata file(s)');
    expect(run.stderr).toContain(key.fingerprint);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    // jammy and noble, two versions each, one squashfs per version.
    expect(lines).toHaveLength(4);
    for (const line of lines) {
      expect(line).toMatch(/^\{'/);
      expect(line).toContain("'ftype': 'squashfs'");
      expect(line).toContain(`'item_url': '${server.url}`);
    }
  });

  it('prints JSON with the flattened fields as strings and item_url', async () => {
    const run = await runFerry(['query', '--json', '--keyring', keyringFile, indexUrl, 'release=noble', 'arch=arm64']);
    expect(run.code).toBe(0);
    const items = JSON.parse(run.stdout) as Array<Record<string, string>>;
    expect(items.length).toBeGreaterThan(0);
    for (const item of items) {
      expect(item.release).toBe('noble');
      expect(item.content_id).toBe('com.ubuntu.maas:stable:v3:download');
      expect(item.size).toMatch(/^\d+$/);
      expect(item.item_url).toBe(`${server.url}${item.path ?? ''}`);
      const generated = stream.files.find((file) => file.path === item.path);
      expect(item.sha256).toBe(generated?.sha256);
      expect(item.size).toBe(String(generated?.size));
    }
  });

  it('formats with -o and keeps the newest version with --max 1', async () => {
    const run = await runFerry(['query', '--max', '1', '-o', '%(version_name)s %(item_url)s', '--keyring', keyringFile, indexUrl, 'ftype=boot-kernel']);
    expect(run.code).toBe(0);
    const versions = new Set(run.stdout.trim().split('\n').map((line) => line.split(' ')[0]));
    expect([...versions]).toEqual([stream.versions.at(-1)]);
  });

  it('ORs filter groups so images and bootloaders come from one command', async () => {
    const run = await runFerry(['query', '--json', '--keyring', keyringFile, indexUrl, 'release=jammy', 'arch=amd64', '--or', 'os~(grub*|pxelinux)']);
    expect(run.code).toBe(0);
    const items = JSON.parse(run.stdout) as Array<Record<string, string>>;
    const oses = new Set(items.map((item) => item.os));
    expect(oses).toEqual(new Set(['ubuntu', 'grub-efi-signed', 'grub-efi', 'grub-ieee1275', 'pxelinux']));
    expect(items.filter((item) => item.os === 'ubuntu').every((item) => item.release === 'jammy' && item.arch === 'amd64')).toBe(true);
  });

  it('prints a product table for people', async () => {
    const run = await runFerry(['query', '--products', '--keyring', keyringFile, indexUrl, 'os=ubuntu']);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    // 80 columns: a product name the row cannot hold goes whole on its own line, the rest of its row under it.
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(80);
    expect(lines.slice(0, 2).join('\n')).toMatch(/^PRODUCT\n {2}OS\s+RELEASE\s+ARCH\s+SUBARCH\s+VERSIONS\s+LATEST\s+SIZE$/);
    const rows = lines.slice(2);
    expect(rows).toHaveLength(8);
    expect(rows[0]).toBe('com.ubuntu.maas.stable:v3:boot:22.04:amd64:ga-22.04');
    expect(rows[1]).toMatch(/^ {2}ubuntu\s+jammy\s+amd64\s/);
    expect(rows[1]).toContain(stream.versions.at(-1));
  });

  it('fails on a tampered products file and names it', async () => {
    const copy = await copyOfStream('tampered');
    try {
      await tamperFile(copy.dir, V3_PRODUCTS);
      const run = await runFerry(['query', '--keyring', keyringFile, `${copy.server.url}streams/v1/index.sjson`]);
      expect(run.code).toBe(3);
      expect(run.stderr).toContain('com.ubuntu.maas:stable:v3:download.sjson');
      expect(run.stderr).toContain('FERRY_SIG_BAD');
      expect(run.stdout).toBe('');
    } finally {
      await copy.server.close();
    }
  });

  it('names the unknown key and the keyring tried when the keyring is wrong', async () => {
    const run = await runFerry(['query', indexUrl]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('FERRY_SIG_UNKNOWN_KEY');
    expect(run.stderr).toContain(key.fingerprint.slice(-16));
    expect(run.stderr).toContain('ubuntu-cloudimage-keyring.gpg');
  });

  it('refuses an item path that leaves the mirror and names the item', async () => {
    const copy = await copyOfStream('unsafe');
    try {
      const jsonPath = join(copy.dir, 'streams/v1/com.ubuntu.maas:stable:v3:download.json');
      const document = JSON.parse(await readFile(jsonPath, 'utf8')) as {
        products: Record<string, { versions: Record<string, { items: Record<string, { path: string }> }> }>;
      };
      const [productName, product] = Object.entries(document.products)[0] ?? [];
      const [versionName, version] = Object.entries(product?.versions ?? {})[0] ?? [];
      const squashfs = version?.items.squashfs;
      if (squashfs === undefined || productName === undefined || versionName === undefined) throw new Error('fixture shape changed');
      squashfs.path = '../../../etc/passwd';
      await writeFile(join(copy.dir, V3_PRODUCTS), await clearsign(JSON.stringify(document, null, 1), key.privateKeyArmored));
      const run = await runFerry(['query', '--keyring', keyringFile, `${copy.server.url}streams/v1/index.sjson`]);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain('FERRY_UNSAFE_PATH');
      expect(run.stderr).toContain(productName);
      expect(run.stderr).toContain(versionName);
      expect(run.stderr).toContain('squashfs');
    } finally {
      await copy.server.close();
    }
  });

  it('says loudly when nothing is verified', async () => {
    const unsigned = await runFerry(['query', '-o', '%(path)s', `${server.url}streams/v1/index.json`, 'ftype=squashfs']);
    expect(unsigned.code).toBe(0);
    expect(unsigned.stderr).toContain('NOT VERIFIED');
    expect(unsigned.stderr).toContain('unsigned .json');
    const skipped = await runFerry(['query', '-o', '%(path)s', '--no-verify', indexUrl, 'ftype=squashfs']);
    expect(skipped.code).toBe(0);
    expect(skipped.stderr).toContain('NOT VERIFIED: --no-verify');
    expect(skipped.stdout).toBe(unsigned.stdout);
    expect(skipped.stdout.trim().split('\n')).toHaveLength(8);
  });

  it('reads a local directory and a file:// URL as sources', async () => {
    const local = await runFerry(['query', '--keyring', keyringFile, stream.baseDir, 'ftype=squashfs']);
    const fileUrl = await runFerry(['query', '--keyring', keyringFile, `file://${stream.baseDir}/streams/v1/index.sjson`, 'ftype=squashfs']);
    expect(local.code).toBe(0);
    expect(fileUrl.code).toBe(0);
    expect(local.stdout.trim().split('\n')).toHaveLength(4 * 2);
    expect(fileUrl.stdout).toBe(local.stdout);
  });

  it('reads a products file given with --path', async () => {
    const run = await runFerry(['query', '--json', '--keyring', keyringFile, '--path', 'streams/v1/com.ubuntu.maas:stable:1:bootloader-download.sjson', server.url]);
    expect(run.code).toBe(0);
    const items = JSON.parse(run.stdout) as Array<Record<string, string>>;
    expect(new Set(items.map((item) => item.content_id))).toEqual(new Set(['com.ubuntu.maas:stable:1:bootloader-download']));
  });

  it('reports malformed JSON with the file and position', async () => {
    const copy = await copyOfStream('malformed');
    try {
      await writeFile(join(copy.dir, 'streams/v1/com.ubuntu.maas:stable:v3:download.json'), '{"format": "products:1.0",\n "products": {,}}');
      const run = await runFerry(['query', `${copy.server.url}streams/v1/index.json`]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('FERRY_JSON_MALFORMED');
      expect(run.stderr).toContain('com.ubuntu.maas:stable:v3:download.json');
      expect(run.stderr).toMatch(/line 2/);
    } finally {
      await copy.server.close();
    }
  });

  it('refuses a bad filter with the grammar and exit status 2', async () => {
    const run = await runFerry(['query', indexUrl, 'a.b=1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Unable to parse');
    expect(run.stderr).toContain('KEY OP VALUE');
  });
});

describe('ferry help', () => {
  it('lists the commands and exit codes', async () => {
    const run = await runFerry(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^\s+query\s/m);
    expect(run.stdout).toMatch(/^\s+mirror\s/m);
    expect(run.stdout).toContain('130');
  });

  it('prints the help of each command', async () => {
    for (const name of ['query', 'mirror']) {
      const help = await runFerry([name, '--help']);
      expect(help.code, name).toBe(0);
      expect(help.stdout, name).toContain(`Usage:\n  ferry ${name} `);
      expect(help.stdout, name).toContain('--keyring FILE');
    }
  });

  it('answers an unknown option with the problem and where to get help', async () => {
    const run = await runFerry(['query', '--frobnicate', 'stable']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("Unknown option '--frobnicate'");
    expect(run.stderr).toContain('ferry help query');
  });
});
