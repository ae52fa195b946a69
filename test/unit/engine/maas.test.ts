import { describe, expect, it } from 'vitest';
import { UBUNTU_CLOUDIMAGE_KEYRING, importMaasCommands, maasCommandsFor } from '../../../src-main/engine/maas.js';
import type { StreamItem } from '../../../src-main/streams/index.js';
import type { MirroredProduct } from '../../../src-main/engine/api.js';

const product = (fields: Omit<MirroredProduct, 'contentId'>): MirroredProduct => ({ contentId: 'com.ubuntu.maas:stable:v3:download', ...fields });

describe('maasCommandsFor', () => {
  it('adds or updates the boot source, selects each mirrored (os, release) with its arches, subarches and labels, then imports', () => {
    const commands = maasCommandsFor({
      url: 'http://mirror.lab/maas/stable/',
      keyringFilename: '/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg',
      products: [
        product({ product: 'noble-arm64', os: 'ubuntu', release: 'noble', arch: 'arm64', subarch: 'ga-24.04', label: 'stable' }),
        product({ product: 'noble-amd64-hwe', os: 'ubuntu', release: 'noble', arch: 'amd64', subarch: 'hwe-24.04', label: 'stable' }),
        product({ product: 'noble-amd64', os: 'ubuntu', release: 'noble', arch: 'amd64', subarch: 'ga-24.04', label: 'stable' }),
        product({ product: 'jammy-amd64', os: 'ubuntu', release: 'jammy', arch: 'amd64' }),
        product({ product: 'grub-efi-signed', os: 'grub-efi-signed', release: 'noble', arch: 'amd64', bootloaderType: 'uefi' }),
      ],
    });
    expect(commands.map((command) => command.argv.join(' '))).toEqual([
      'maas $PROFILE boot-sources create url=http://mirror.lab/maas/stable/ keyring_filename=/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg',
      'maas $PROFILE boot-source update $BOOT_SOURCE_ID url=http://mirror.lab/maas/stable/ keyring_filename=/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg',
      'maas $PROFILE boot-source-selections create $BOOT_SOURCE_ID os=ubuntu release=jammy arches=amd64 subarches=* labels=*',
      'maas $PROFILE boot-source-selections create $BOOT_SOURCE_ID os=ubuntu release=noble arches=amd64 arches=arm64 subarches=ga-24.04 subarches=hwe-24.04 labels=stable',
      'maas $PROFILE boot-resources import',
    ]);
    expect(commands.every((command) => command.purpose.length > 0)).toBe(true);
  });

  it('names no keyring for unsigned metadata and uses the profile given', () => {
    const [create] = maasCommandsFor({ url: 'http://m/', keyringFilename: undefined, products: [], profile: 'admin' });
    expect(create?.argv).toEqual(['maas', 'admin', 'boot-sources', 'create', 'url=http://m/']);
  });

  it('after an import: one boot source, one selection per os and release, bootloaders left to MAAS', () => {
    const item = (flat: Record<string, string>): StreamItem => ({ contentId: 'c', productName: Object.values(flat).join(':'), versionName: 'v', itemName: 'i', flat, checksums: {} });
    const commands = importMaasCommands({
      url: 'http://10.0.0.5:8080/',
      items: [
        item({ os: 'ubuntu', release: 'jammy', arch: 'amd64', subarch: 'ga-22.04', label: 'stable' }),
        item({ os: 'ubuntu', release: 'jammy', arch: 'arm64', subarch: 'hwe-22.04', label: 'stable' }),
        item({ os: 'ubuntu', release: 'noble', arch: 'amd64', subarch: 'ga-24.04', label: 'stable' }),
        item({ os: 'grub-efi', 'bootloader-type': 'uefi', arch: 'amd64' }),
      ],
    });
    expect(commands.urlIsGuess).toBe(false);
    expect(commands.keyringFilename).toBe(UBUNTU_CLOUDIMAGE_KEYRING);
    expect(commands.commands.map((command) => command.argv.join(' '))).toEqual([
      `maas $PROFILE boot-sources create url=http://10.0.0.5:8080/ keyring_filename=${UBUNTU_CLOUDIMAGE_KEYRING}`,
      `maas $PROFILE boot-source update $BOOT_SOURCE_ID url=http://10.0.0.5:8080/ keyring_filename=${UBUNTU_CLOUDIMAGE_KEYRING}`,
      'maas $PROFILE boot-source-selections create $BOOT_SOURCE_ID os=ubuntu release=jammy arches=amd64 arches=arm64 subarches=ga-22.04 subarches=hwe-22.04 labels=stable',
      'maas $PROFILE boot-source-selections create $BOOT_SOURCE_ID os=ubuntu release=noble arches=amd64 subarches=ga-24.04 labels=stable',
      'maas $PROFILE boot-resources import',
    ]);
  });

  it('after an import without a URL: guesses this host and port 8080 and says it is a guess', () => {
    const commands = importMaasCommands({ keyringFile: '/srv/keys/site.gpg', items: [] });
    expect(commands.urlIsGuess).toBe(true);
    expect(commands.url).toMatch(/^http:\/\/.+:8080\/$/);
    expect(commands.keyringNote).toMatch(/copy it/);
  });

  it("names a stable keyring path on the region controller, never the bundle's path on the drive", () => {
    const commands = importMaasCommands({ url: 'http://m/', keyringFile: '/tmp/usb/FERRY/20261130T054000Z-3fa9c2d1/keyrings/site.gpg', items: [] });
    expect(commands.keyringFilename).toBe('/etc/maas/keyrings/site.gpg');
    expect(JSON.stringify(commands.commands)).not.toContain('/tmp/usb');
    expect(commands.keyringNote).toContain('install -D -m 0644 /tmp/usb/FERRY/20261130T054000Z-3fa9c2d1/keyrings/site.gpg /etc/maas/keyrings/site.gpg');
  });
});
