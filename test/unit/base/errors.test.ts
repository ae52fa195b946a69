import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, FerryError, redactUrl, type FerryErrorCode } from '../../../src-main/base/errors.js';
import { exitCodeFor } from '../../../src-main/cli/exit-codes.js';

describe('error codes', () => {
  it('are all documented in docs/errors.md with their exit status', async () => {
    const doc = await readFile(join(import.meta.dirname, '../../../docs/errors.md'), 'utf8');
    for (const code of Object.keys(ERROR_CODES) as FerryErrorCode[]) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      expect(row, `${code} is missing from docs/errors.md`).toBeDefined();
      expect(row?.split('|')[2]?.trim(), code).toBe(String(exitCodeFor(code)));
    }
  });

  it('survive a process boundary as plain data', () => {
    const error = new FerryError('FERRY_HASH_MISMATCH', 'bad bytes', { url: 'https://user:secret@example.org/a', expected: 'aa', actual: 'bb', hint: 'rerun' });
    const copy = FerryError.fromJSON(JSON.parse(JSON.stringify(error)) as ReturnType<FerryError['toJSON']>);
    expect(copy).toBeInstanceOf(FerryError);
    expect(copy.toJSON()).toEqual(error.toJSON());
    // A user name alone is kept (it helps to know which account); a password or a bare token is not.
    expect(copy.url).toBe('https://user:***@example.org/a');
  });

  it('never carry credentials in URLs', () => {
    expect(redactUrl('http://token@mirror.example/x')).toBe('http://***@mirror.example/x');
    expect(redactUrl('http://mirror.example/x')).toBe('http://mirror.example/x');
    expect(redactUrl('not a url')).toBe('not a url');
  });
});
