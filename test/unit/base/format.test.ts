import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { commandLine, shellWord } from '../../../src-main/base/format.js';

/** What a POSIX shell (dash, as /bin/sh on Debian) makes of a printed word: the word it passes on. */
function shellReads(printed: string): string {
  return execFileSync('dash', ['-c', `printf '%s' ${printed}`], { env: { HOME: '/home/operator', PATH: process.env['PATH'] ?? '' } }).toString();
}

describe('shellWord', () => {
  it('leaves plain words as they are', () => {
    expect(shellWord('/srv/maas-mirror')).toBe('/srv/maas-mirror');
    expect(shellWord('--bind')).toBe('--bind');
    expect(shellWord('a~b')).toBe('a~b');
  });

  it('quotes a leading ~ (and one after = or :), which a shell would expand to a home folder', () => {
    for (const word of ['~', '~/mirror', '~root/x', 'url=~/mirror', 'PATH=/bin:~/bin']) {
      expect(shellWord(word)).toBe(`'${word}'`);
    }
  });

  it('prints words a shell reads back unchanged', () => {
    for (const word of ['~/mirror', 'url=~/x', "it's", 'two words', '$HOME', 'a~b', '']) {
      expect(shellReads(shellWord(word))).toBe(word);
    }
    // Unquoted, dash would have expanded it: the quoting is what keeps it.
    expect(shellReads('~/mirror')).toBe('/home/operator/mirror');
  });

  it('keeps a shell variable for the shell to expand in a command line', () => {
    expect(commandLine(['ferry', 'serve', '~/mirror', 'url=$MIRROR_URL'])).toBe("ferry serve '~/mirror' url=$MIRROR_URL");
  });
});
