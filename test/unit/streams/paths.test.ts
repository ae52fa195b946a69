import { describe, expect, it } from 'vitest';
import { FerryError } from '../../../src-main/base/errors.js';
import { TREE_STATE_FOLDER } from '../../../src-main/library/library.js';
import { STATE_FOLDER, assertSafeItemFilePath, assertSafeItemPath } from '../../../src-main/streams/paths.js';

function refusal(path: string): string {
  try {
    assertSafeItemPath(path, 'item X');
  } catch (error) {
    if (error instanceof FerryError && error.code === 'FERRY_UNSAFE_PATH') return error.message;
    throw error;
  }
  throw new Error(`${JSON.stringify(path)} was accepted`);
}

describe('assertSafeItemPath', () => {
  it.each([
    'jammy/amd64/20250615/squashfs',
    'streams/v1/com.ubuntu.maas:stable:v3:download.json',
    'bootloaders/pxe/i386/20230615.0/syslinux.tar.xz',
    'dir with space/file~1+2,3;4=5@6',
    'a%2eb/100%25/%C3%A9',
    '..a/b..',
    'ünïcødé/😀',
    // Only the top folder is ours; a .ferry deeper down, or a longer name, is an ordinary path.
    'a/.ferry/catalog.db',
    '.ferry2/x',
    '.ferryx',
    'ferry/x',
    'ferry~/x',
  ])('accepts %j', (path) => {
    expect(() => {
      assertSafeItemPath(path, 'item X');
    }).not.toThrow();
  });

  it.each([
    ['', 'it is empty'],
    ['/etc/passwd', 'it is absolute'],
    ['C:/Windows/x', 'it starts with a drive letter'],
    ['../outside', "it has a '..' segment"],
    ['a/../../outside', "it has a '..' segment"],
    ['a/..', "it has a '..' segment"],
    ['a/./b', "it has a '.' segment"],
    ['a/.../b', "it has a '...' segment"],
    ['a\\..\\b', 'it contains a backslash'],
    ['a\u0000b', 'the control character U+0000'],
    ['a\nb', 'the control character U+000A'],
    ['a\u007fb', 'the control character U+007F'],
    ['a//b', 'empty segment'],
    ['a/b/', 'empty segment'],
    ['%2e%2e/x', "it has a '..' segment (percent-encoded)"],
    ['%2E%2E/x', "it has a '..' segment (percent-encoded)"],
    ['.%2e/x', "it has a '..' segment (percent-encoded)"],
    ['%252e%252e/x', "it has a '..' segment (percent-encoded)"],
    ['a%2f..%2fb', "percent-encoded '/'"],
    ['a%2Fb', "percent-encoded '/'"],
    ['a%5cb', 'percent-encoded backslash'],
    ['a%00b', 'percent-encoded control character U+0000'],
    ['a%2500b', 'percent-encoded control character U+0000'],
    ['a\ud800b', 'unpaired UTF-16 surrogate'],
  ])('refuses %j: %s', (path, reason) => {
    expect(refusal(path)).toContain(reason);
  });

  // Every spelling that a file system (or a later HTTP decoder) may resolve to TARGET/.ferry/.
  it.each([
    '.ferry/catalog.db',
    '.ferry/lock',
    '.ferry/tmp/partial/0123',
    '.ferry',
    '.FERRY/catalog.db',
    '.Ferry/lock',
    '.ferry./catalog.db',
    '.ferry. . /lock',
    '%2eferry/catalog.db',
    '%252Eferry/lock',
    '.f%65rry/lock',
    'FERRY~1/catalog.db',
    'ferry~2/lock',
    '．ｆｅｒｒｙ/lock',
  ])("refuses %j: it is inside Stream Ferry's state folder", (path) => {
    expect(refusal(path)).toContain('it is inside .ferry/, where Stream Ferry keeps its own state');
  });

  it.each(['./.ferry/catalog.db', 'a/../.ferry/catalog.db', '.ferry/../x'])('refuses %j before it could reach .ferry/', (path) => {
    expect(refusal(path)).toMatch(/it has a '\.\.?' segment/);
  });

  it('spells the state folder as the library does', () => {
    expect(STATE_FOLDER).toBe(TREE_STATE_FOLDER);
  });

  it('names the offending path and where it was found, and says what to do', () => {
    try {
      assertSafeItemPath('../x', 'content c, product "p", version "v", item "i" of streams/v1/c.json');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(FerryError);
      const ferryError = error as FerryError;
      expect(ferryError.message).toBe(
        `Refused the path "../x" in content c, product "p", version "v", item "i" of streams/v1/c.json: it has a '..' segment.`,
      );
      expect(ferryError.hint).toContain('relative paths inside the mirror');
      expect(ferryError.actual).toBe('../x');
    }
  });
});

describe('assertSafeItemFilePath', () => {
  function itemRefusal(path: string): string | undefined {
    try {
      assertSafeItemFilePath(path, 'item X');
      return undefined;
    } catch (error) {
      if (error instanceof FerryError && error.code === 'FERRY_UNSAFE_PATH') return error.message;
      throw error;
    }
  }

  // The metadata lives in streams/v1/: an item there could be written over it.
  it.each(['streams/v1/index.sjson', 'streams/v1/com.ubuntu.maas:stable:v3:download.json', 'STREAMS/V1/x', 'streams./v1./x', 'streams/%76%31/x', 'streams/v1'])(
    'refuses %j, saying why',
    (path) => {
      expect(itemRefusal(path)).toContain("it is inside streams/v1/, where the stream's index and products files live");
    },
  );

  it.each(['streams/v2/x', 'streams/v10/x', 'a/streams/v1/x', 'streamsx/v1/x', 'jammy/amd64/20250615/squashfs'])('accepts %j', (path) => {
    expect(itemRefusal(path)).toBeUndefined();
  });

  it('refuses what assertSafeItemPath refuses', () => {
    expect(itemRefusal('.ferry/lock')).toContain('it is inside .ferry/');
  });
});
