// What MAAS needs to use a mirror: the boot source and the selections for what was mirrored, as
// MAAS CLI commands in plain data (argv lists), so that every face (the CLI after `ferry mirror` and
// `ferry sync`, `ferry import`, the app) prints the same commands. Source of the commands: MAAS's
// "Mirror images locally" how-to (boot-sources create, boot-source update, boot-source-selections
// create, boot-resources import).

import { hostname } from 'node:os';
import { basename } from 'node:path';
import type { StreamItem } from '../streams/index.js';
import type { MaasCommands, MirroredProduct } from './api.js';
import { DEFAULT_SERVE_PORT } from './serve.js';

/** Shell variables the commands leave for the operator to set: MAAS CLI profile and source id. */
export const MAAS_PLACEHOLDERS = { profile: '$PROFILE', bootSourceId: '$BOOT_SOURCE_ID' } as const;

/** Where Ubuntu's `ubuntu-cloudimage-keyring` package puts the key MAAS checks images.maas.io with. */
export const UBUNTU_CLOUDIMAGE_KEYRING = '/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg';

/** Where the MAAS commands ask for any other keyring to be copied: a path that outlives the drive it came on. */
export const MAAS_KEYRINGS_DIR = '/etc/maas/keyrings';

export interface MaasCommandsInput {
  /**
   * The URL MAAS reads the mirror from: the tree's root as served (`ferry serve`, nginx), the
   * folder holding `streams/`, ending in `/`. A face that cannot know it passes a shell variable.
   */
  url: string;
  /**
   * The keyring file as a path on the MAAS region controller; undefined when the mirror's metadata
   * is unsigned (.json), where MAAS takes no keyring.
   */
  keyringFilename: string | undefined;
  /** What was mirrored: one entry per product (MirrorOutcome.mirrored). */
  products: readonly MirroredProduct[];
  /** MAAS CLI profile; default the shell variable `$PROFILE`. */
  profile?: string | undefined;
}

export interface MaasCommand {
  /** What running it does, in a sentence. */
  purpose: string;
  /** The words of the command, unquoted: `['maas', '$PROFILE', 'boot-sources', 'create', 'url=…']`. */
  argv: string[];
}

/**
 * The MAAS CLI commands that make MAAS import what a mirror holds: add the boot source (or point
 * the existing one at it), one boot-source-selections create per (os, release) with the
 * architectures, subarchitectures and labels that were mirrored, then start the import.
 * Bootloader products (`bootloader-type`) get no selection: MAAS takes them from the source by
 * itself. Pure: the same input gives the same commands, in a stable order. Throws nothing.
 */
export function maasCommandsFor(input: MaasCommandsInput): MaasCommand[] {
  const profile = input.profile ?? MAAS_PLACEHOLDERS.profile;
  const source = [`url=${input.url}`, ...(input.keyringFilename === undefined ? [] : [`keyring_filename=${input.keyringFilename}`])];
  const commands: MaasCommand[] = [
    { purpose: 'Add the mirror as a boot source (a MAAS with none yet)', argv: ['maas', profile, 'boot-sources', 'create', ...source] },
    {
      purpose: 'Or point the existing boot source at it',
      argv: ['maas', profile, 'boot-source', 'update', MAAS_PLACEHOLDERS.bootSourceId, ...source],
    },
  ];
  const groups = new Map<string, { os: string; release: string; arches: Set<string>; subarches: Set<string>; labels: Set<string> }>();
  for (const product of input.products) {
    if (product.bootloaderType !== undefined || product.os === undefined || product.release === undefined) continue;
    const key = `${product.os}\u0000${product.release}`;
    let group = groups.get(key);
    if (group === undefined) {
      group = { os: product.os, release: product.release, arches: new Set(), subarches: new Set(), labels: new Set() };
      groups.set(key, group);
    }
    if (product.arch !== undefined) group.arches.add(product.arch);
    if (product.subarch !== undefined) group.subarches.add(product.subarch);
    if (product.label !== undefined) group.labels.add(product.label);
  }
  const listed = (name: string, values: ReadonlySet<string>): string[] => (values.size === 0 ? [`${name}=*`] : [...values].sort().map((value) => `${name}=${value}`));
  for (const group of [...groups.values()].sort((a, b) => `${a.os} ${a.release}`.localeCompare(`${b.os} ${b.release}`))) {
    commands.push({
      purpose: `Select ${group.os} ${group.release} as mirrored`,
      argv: [
        'maas',
        profile,
        'boot-source-selections',
        'create',
        MAAS_PLACEHOLDERS.bootSourceId,
        `os=${group.os}`,
        `release=${group.release}`,
        ...listed('arches', group.arches),
        ...listed('subarches', group.subarches),
        ...listed('labels', group.labels),
      ],
    });
  }
  commands.push({ purpose: 'Start the import', argv: ['maas', profile, 'boot-resources', 'import'] });
  return commands;
}

export interface ImportMaasOptions {
  /** The URL the imported tree will be served at; default `http://<this host>:8080/`, flagged as a guess. */
  url?: string | undefined;
  /** The keyring the bundle was verified with, where it is now (often on the drive); MAAS is told to read it from MAAS_KEYRINGS_DIR. Default: the Ubuntu keyring MAAS ships. */
  keyringFile?: string | undefined;
  /** The signed items imported (their flat fields give os, release, arch, subarch, label, bootloader-type). */
  items: Iterable<StreamItem>;
}

/**
 * The MAAS commands after `ferry import` (maasCommandsFor over the imported items), with the URL
 * and keyring they use and why. Plain data for the CLI and the app. Throws nothing.
 */
export function importMaasCommands(options: ImportMaasOptions): MaasCommands {
  const url = options.url ?? `http://${hostname()}:${DEFAULT_SERVE_PORT}/`;
  // A path on the drive (/media/usb/FERRY/<id>/keyrings/x.gpg) is gone once the drive is ejected.
  const keyringFilename = options.keyringFile === undefined ? UBUNTU_CLOUDIMAGE_KEYRING : `${MAAS_KEYRINGS_DIR}/${basename(options.keyringFile)}`;
  const products = new Map<string, MirroredProduct>();
  for (const item of options.items) {
    const key = `${item.contentId}\u0000${item.productName}`;
    if (products.has(key)) continue;
    const { os, release, arch, subarch, label } = item.flat;
    const bootloaderType = item.flat['bootloader-type'];
    products.set(key, {
      contentId: item.contentId,
      product: item.productName,
      ...(os === undefined ? {} : { os }),
      ...(release === undefined ? {} : { release }),
      ...(arch === undefined ? {} : { arch }),
      ...(subarch === undefined ? {} : { subarch }),
      ...(label === undefined ? {} : { label }),
      ...(bootloaderType === undefined ? {} : { bootloaderType }),
    });
  }
  return {
    url,
    urlIsGuess: options.url === undefined,
    keyringFilename,
    keyringNote:
      options.keyringFile === undefined
        ? 'the Ubuntu cloud image keyring, which MAAS ships'
        : `the keyring the bundle was verified with: copy it there on the MAAS region controller first (sudo install -D -m 0644 ${options.keyringFile} ${keyringFilename})`,
    commands: maasCommandsFor({ url, keyringFilename, products: [...products.values()] }),
  };
}
