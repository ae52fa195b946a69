// Loaders for the sample stream and for the golden output the Python reference produced
// (test/fixtures/reference/README.txt says how).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const fixturesDirectory = fileURLToPath(new URL('../../fixtures/', import.meta.url));

export const SAMPLE_FILES = {
  index: 'simplestreams_index.json',
  'com.ubuntu.maas:stable:v3:download': 'simplestreams_ubuntu.json',
  'com.ubuntu.maas:stable:1:bootloader-download': 'simplestreams_bootloaders.json',
  'com.ubuntu.maas:stable:centos-bases-download': 'simplestreams_centos.json',
} as const;

export type SampleContentId = Exclude<keyof typeof SAMPLE_FILES, 'index'>;

export function readSample(name: keyof typeof SAMPLE_FILES): string {
  return readFileSync(`${fixturesDirectory}maas-stable-sample/${SAMPLE_FILES[name]}`, 'utf8');
}

/** A file of the edge-case stream, by its path relative to the stream's base. */
export function readEdgeStreamFile(relativePath: string): string {
  return readFileSync(`${fixturesDirectory}reference/edge-stream/${relativePath}`, 'utf8');
}

/** The parsed golden file; callers state its shape. */
export function readGolden(name: string): unknown {
  return JSON.parse(readFileSync(`${fixturesDirectory}reference/${name}`, 'utf8'));
}

export interface QueryGolden {
  readonly mirror_url: string;
  readonly cases: readonly { readonly args: readonly string[]; readonly output: readonly Record<string, string>[] }[];
}
