// The MAAS commands that point a region controller at an imported tree: one boot source, then one
// boot-source selection per os and release imported (MAAS CLI: `boot-sources create url=…
// keyring_filename=…`, `boot-source-selections create SOURCE_ID os= release= arches= subarches=
// labels=`; list fields are repeated, as the MAAS CLI takes them). Plain data, so the CLI prints
// the lines and the app can show or copy them.

import { hostname } from 'node:os';
import type { StreamItem } from '../streams/index.js';
import type { MaasCommands } from './api.js';
import { DEFAULT_SERVE_PORT } from './serve.js';

/** Where MAAS looks for the Ubuntu cloud image keyring it ships (the keyring of images.maas.io). */
export const UBUNTU_KEYRING_FILENAME = '/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg';

export interface MaasCommandOptions {
  /** The URL the tree will be served at; default `http://<this host>:8080/`, flagged as a guess. */
  url?: string | undefined;
  /** The keyring MAAS should verify with: undefined means the Ubuntu keyring MAAS ships. */
  keyringFile?: string | undefined;
  /** The signed items imported (their flat fields give os, release, arch, subarch, label). */
  items: Iterable<StreamItem>;
}

/**
 * The commands for `options.items`: items without `os` or `release` (bootloaders) need no
 * selection. Values are shell-quoted where they hold anything but `[A-Za-z0-9._:/@%+=,-]`.
 */
export function maasCommands(options: MaasCommandOptions): MaasCommands {
  const url = options.url ?? `http://${hostname()}:${DEFAULT_SERVE_PORT}/`;
  const groups = new Map<string, { os: string; release: string; arches: Set<string>; subarches: Set<string>; labels: Set<string> }>();
  for (const item of options.items) {
    const { os, release, arch, subarch, label } = item.flat;
    if (os === undefined || release === undefined) continue;
    const key = `${os}\u0000${release}`;
    const group = groups.get(key) ?? { os, release, arches: new Set(), subarches: new Set(), labels: new Set() };
    if (arch !== undefined) group.arches.add(arch);
    if (subarch !== undefined) group.subarches.add(subarch);
    if (label !== undefined) group.labels.add(label);
    groups.set(key, group);
  }
  const sorted = (values: Set<string>): string[] => (values.size === 0 ? ['*'] : [...values].sort());
  const selections = [...groups.values()].map((group) => ({
    os: group.os,
    release: group.release,
    arches: sorted(group.arches),
    subarches: sorted(group.subarches),
    labels: sorted(group.labels),
  }));
  const keyringFilename = options.keyringFile ?? UBUNTU_KEYRING_FILENAME;
  const lines = [
    `maas $PROFILE boot-sources create url=${quote(url)} keyring_filename=${quote(keyringFilename)}`,
    ...selections.map(
      (selection) =>
        `maas $PROFILE boot-source-selections create $SOURCE_ID os=${quote(selection.os)} release=${quote(selection.release)} ` +
        [...selection.arches.map((value) => `arches=${quote(value)}`), ...selection.subarches.map((value) => `subarches=${quote(value)}`), ...selection.labels.map((value) => `labels=${quote(value)}`)].join(' '),
    ),
  ];
  return {
    url,
    urlIsGuess: options.url === undefined,
    keyringFilename,
    keyringNote:
      options.keyringFile === undefined
        ? 'the Ubuntu cloud image keyring, which MAAS ships'
        : 'the keyring the bundle was verified with: copy it to the same path on the MAAS region controller',
    selections,
    lines,
  };
}

function quote(value: string): string {
  return /^[A-Za-z0-9._:/@%+=,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
