import { describe, expect, it } from 'vitest';
import { maasCommands, UBUNTU_KEYRING_FILENAME } from '../../../src-main/engine/maas.js';
import type { StreamItem } from '../../../src-main/streams/index.js';

function item(flat: Record<string, string>): StreamItem {
  return { contentId: 'c', productName: 'p', versionName: 'v', itemName: 'i', flat, checksums: {} };
}

describe('maasCommands', () => {
  it('makes one boot source and one selection per os and release, with repeated list fields', () => {
    const commands = maasCommands({
      url: 'http://10.0.0.5:8080/',
      items: [
        item({ os: 'ubuntu', release: 'jammy', arch: 'amd64', subarch: 'ga-22.04', label: 'stable' }),
        item({ os: 'ubuntu', release: 'jammy', arch: 'arm64', subarch: 'hwe-22.04', label: 'stable' }),
        item({ os: 'ubuntu', release: 'noble', arch: 'amd64', subarch: 'ga-24.04', label: 'stable' }),
        // A bootloader has no release: MAAS selects bootloaders apart.
        item({ os: 'grub-efi', arch: 'amd64' }),
      ],
    });
    expect(commands.lines).toEqual([
      `maas $PROFILE boot-sources create url=http://10.0.0.5:8080/ keyring_filename=${UBUNTU_KEYRING_FILENAME}`,
      'maas $PROFILE boot-source-selections create $SOURCE_ID os=ubuntu release=jammy arches=amd64 arches=arm64 subarches=ga-22.04 subarches=hwe-22.04 labels=stable',
      'maas $PROFILE boot-source-selections create $SOURCE_ID os=ubuntu release=noble arches=amd64 subarches=ga-24.04 labels=stable',
    ]);
    expect(commands.urlIsGuess).toBe(false);
  });

  it('guesses the URL from this host, flags it, and shell-quotes what needs it', () => {
    const commands = maasCommands({ keyringFile: "/media/usb/it's keyring.gpg", items: [item({ os: 'ubuntu', release: 'jammy' })] });
    expect(commands.urlIsGuess).toBe(true);
    expect(commands.url).toMatch(/^http:\/\/.+:8080\/$/);
    expect(commands.lines[0]).toContain(`keyring_filename='/media/usb/it'\\''s keyring.gpg'`);
    expect(commands.lines[1]).toContain("arches='*' subarches='*' labels='*'");
  });
});
