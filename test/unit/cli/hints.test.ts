import { describe, expect, it } from 'vitest';
import { FerryError } from '../../../src-main/base/errors.js';
import { loadCommands } from '../../../src-main/cli/commands/index.js';
import { cliHint, cliHints } from '../../../src-main/cli/hints.js';
import { formatError } from '../../../src-main/cli/output.js';
import { loadKeyring } from '../../../src-main/pgp/keyring.js';
import { createPartsSource, listen } from '../../../src-main/serve/index.js';
import { resolveVersions } from '../../../src-main/streams/versions.js';
import { expectFerryError, thrownFerryError } from '../../support/expect-ferry-error.js';

const SETTINGS = ['keep', 'max', 'stallTimeoutMs', 'maxAttempts', 'connectionsPerHost', 'concurrency'];

describe('the CLI hint table', () => {
  it('words a domain error as options, and the printer uses it', () => {
    const error = thrownFerryError(() => resolveVersions(['1'], [], undefined, true));
    expect(error.hint).not.toContain('--');
    expect(formatError(error)).toContain('  hint: --keep needs --max: add --max N, or drop --keep.\n');
  });

  it('names only options that some command accepts', async () => {
    const options = new Set((await loadCommands()).flatMap((command) => command.options.map((option) => `--${option.name}`)));
    const hints = [
      ...SETTINGS.map((setting) => cliHint(new FerryError('FERRY_SETTING_INVALID', 'x', { setting }))),
      ...Object.values(cliHints).filter((rule): rule is string => typeof rule === 'string'),
      cliHint(new FerryError('FERRY_FETCH_FAILED', 'x', { url: 'https://m/', errno: 'ENOTFOUND' })),
      cliHint(new FerryError('FERRY_FETCH_FAILED', 'x', { url: 'file:///m/a', errno: 'ENOENT', expected: '1' })),
      ...['EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL'].map((errno) => cliHint(new FerryError('FERRY_LISTEN_FAILED', 'x', { errno }))),
    ];
    expect(hints.every((hint) => hint !== undefined)).toBe(true);
    const named = hints.flatMap((hint) => hint?.match(/--[a-z][a-z-]*/g) ?? []);
    expect(named.length).toBeGreaterThan(5);
    expect(named.filter((option) => !options.has(option))).toEqual([]);
  });

  it('decides by facts, and keeps the error’s own remedy where it has no wording', async () => {
    const none = await expectFerryError(loadKeyring([]), 'FERRY_KEYRING_INVALID');
    expect(cliHint(none)).toContain('--keyring');
    const named = new FerryError('FERRY_KEYRING_INVALID', 'x', { path: 'k.gpg', hint: 'export it with gpg' });
    expect(cliHint(named)).toBe('export it with gpg');
    const refused = new FerryError('FERRY_FETCH_FAILED', 'x', { url: 'https://m/', errno: 'ECONNREFUSED', hint: 'nothing listens' });
    expect(cliHint(refused)).toBe('nothing listens');
    const proxy = new FerryError('FERRY_SETTING_INVALID', 'x', { setting: 'proxy', hint: 'use http://' });
    expect(cliHint(proxy)).toBe('use http://');
  });

  it('reads plain data as well as FerryErrors, as an error that crossed a process boundary', () => {
    const plain = JSON.parse(JSON.stringify(new FerryError('FERRY_SETTING_INVALID', 'x', { setting: 'max' }))) as ReturnType<FerryError['toJSON']>;
    expect(cliHint(plain)).toContain('--max 1');
  });
});

describe('a listen that fails', () => {
  it('carries the address and errno from serve/, and the CLI words them as --port', async () => {
    const source = createPartsSource(new Map());
    const first = await listen({ source, host: '127.0.0.1', port: 0 });
    try {
      const error = await expectFerryError(listen({ source, host: '127.0.0.1', port: first.port }), 'FERRY_LISTEN_FAILED');
      expect(error.errno).toBe('EADDRINUSE');
      expect(error.actual).toBe(`127.0.0.1:${first.port}`);
      expect(error.hint).not.toContain('--');
      expect(cliHint(error)).toContain('--port 0');
    } finally {
      await first.close(1000);
    }
  });
});

describe('a host:port source read as https that answers in plain HTTP', () => {
  it('suggests the http:// mirror base and says nothing about resuming', () => {
    const hint = cliHint(new FerryError('FERRY_FETCH_FAILED', 'x', { url: 'https://localhost:8099/streams/v1/index.sjson', errno: 'ERR_SSL_WRONG_VERSION_NUMBER' }));
    expect(hint).toBe('The server speaks plain HTTP: give http://localhost:8099/ as the source.');
  });

  it('no longer promises a resume for a failure that downloaded nothing', () => {
    const hint = cliHint(new FerryError('FERRY_FETCH_FAILED', 'x', { url: 'https://m/streams/v1/index.sjson', errno: 'ECONNRESET' }));
    expect(hint).not.toContain('a rerun resumes where this one stopped');
    expect(hint).toContain('run the command again');
  });
});
