import { execFileSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../../support/run-ferry.js';
import { generateStream, type GeneratedStream } from '../../support/stream-generator.js';
import { makeKey, makeWorkDir } from '../mirror/helpers.js';

// A mirror behind https with a private CA (issue 11 §2): the CA and the server's certificate are made
// here with the openssl CLI; the server is node:https on 127.0.0.1 serving a generated signed stream.

let workDir: string;
let keyringFile: string;
let caFile: string;
let stream: GeneratedStream;
let server: Server;
let baseUrl: string;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: workDir, stdio: 'ignore' });
}

beforeAll(async () => {
  workDir = await makeWorkDir('tls');
  const key = await makeKey(workDir, 'TLS test');
  keyringFile = key.keyringFile;
  stream = await generateStream(join(workDir, 'stream'), { signingKey: key.key, contents: ['bootloaders'], versions: 1 });
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Ferry Test Private CA']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  await writeFile(join(workDir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext']);
  caFile = join(workDir, 'ca.pem');
  const root = stream.baseDir;
  server = createServer({ key: await readFile(join(workDir, 'server.key')), cert: await readFile(join(workDir, 'server.pem')) }, (request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url ?? '/', 'https://x').pathname)).replace(/^\/+/, '');
    readFile(join(root, path)).then(
      (bytes) => response.writeHead(200, { 'content-length': bytes.length }).end(bytes),
      () => response.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  baseUrl = `https://127.0.0.1:${address.port}/`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(workDir, { recursive: true, force: true });
});

describe('https with a private CA', () => {
  it('fails in words and names --ca-cert and NODE_EXTRA_CA_CERTS when the CA is not trusted', async () => {
    const run = await runFerry(['query', '--keyring', keyringFile, `${baseUrl}streams/v1/index.sjson`], { env: { NODE_EXTRA_CA_CERTS: '' } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('not signed by a certificate authority this computer trusts');
    expect(run.stderr).toContain('--ca-cert FILE');
    expect(run.stderr).toContain('NODE_EXTRA_CA_CERTS');
    // OpenSSL's and undici's own names stay in the JSON facts, not in the words.
    expect(run.stderr).not.toMatch(/SELF_SIGNED|UNABLE_TO|UND_ERR|self-signed certificate/);
  });

  it('succeeds with --ca-cert FILE', async () => {
    const target = join(workDir, 'mirror');
    const run = await runFerry(['mirror', '--ca-cert', caFile, '--keyring', keyringFile, `${baseUrl}streams/v1/index.sjson`, target]);
    expect(run.stderr).toContain('Metadata written last');
    expect(run.code).toBe(0);
    const [first] = stream.files;
    if (first === undefined) throw new Error('the generated stream has no files');
    expect((await readFile(join(target, first.path))).length).toBe(first.size);
  });

  it('succeeds with NODE_EXTRA_CA_CERTS', async () => {
    const run = await runFerry(['query', '--keyring', keyringFile, `${baseUrl}streams/v1/index.sjson`], { env: { NODE_EXTRA_CA_CERTS: caFile } });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('item_url');
  });

  it('refuses a --ca-cert file that holds no certificate, naming it', async () => {
    const run = await runFerry(['query', '--ca-cert', keyringFile, '--keyring', keyringFile, `${baseUrl}streams/v1/index.sjson`]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`The CA certificate file ${keyringFile} holds no PEM certificate`);
    expect(run.stderr).toContain('--ca-cert takes a PEM file');
  });
});
