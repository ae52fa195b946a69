// README.txt of a bundle: what it is and how to check and import it, for the operator on the
// offline side, who may have nothing but this drive (plain ASCII, LF line ends: docs/bundle.md).
import type { BundleManifest } from './manifest.js';

/**
 * What an incremental bundle is judged against, for people: "bundle <id>, the last exported to site
 * <name>" (`--site`, the library's ledger) or "receipt <id> from site <name>" (`--since`); '' for a
 * full bundle. README.txt and import.sh both say it.
 */
export function baseWords(manifest: BundleManifest): string {
  const { base, site } = manifest;
  if (base === null) return '';
  if (base.kind === 'site') return `bundle ${base.id}, the last exported to site ${site ?? '(unnamed)'}`;
  return `receipt ${base.id}${site === null ? '' : ` from site ${site}`}`;
}

/**
 * One volume of several verifies as valid but incomplete alone (ferry verify exits 1): the bundle is
 * verified with every volume given; an import of some volumes writes their data and leaves the
 * metadata until every file is present (docs/bundle.md, Import).
 */
function severalVolumes(count: number): string[] {
  const all = Array.from({ length: Math.min(count, 3) }, (_unused, index) => `VOLUME${index + 1}`).join(' ') + (count > 3 ? ' ...' : '');
  return [
    `Verify the bundle:      ferry verify ${all}   (every volume's directory, in any order;`,
    '                        this volume alone reports what the others hold)',
    `Import into a mirror:   ferry import ${all} --into TARGET_DIR`,
    "                        or, with POSIX sh and coreutils only, in each volume's directory:",
    '                        sh import.sh TARGET_DIR',
    '                        volumes may come one run at a time, in any order: each run writes its',
    "                        volumes' data, and the metadata is written once every file is present",
    '                        (until then the run exits 4, listing what the other volumes hold)',
  ];
}

/** The README.txt text of one volume. */
export function readmeText(manifest: BundleManifest): string {
  return [
    `Stream Ferry bundle ${manifest.id} (volume ${manifest.volume.index} of ${manifest.volume.count})`,
    '',
    `SimpleStreams boot images from ${manifest.source.url}, exported ${manifest.created}`,
    `by Stream Ferry ${manifest.tool.version}: ${manifest.files.length} file(s), ${manifest.blobs.length} blob(s) on this volume.`,
    manifest.base === null ? 'A full bundle.' : `An incremental bundle: it carries only what the site lacks according to its base, ${baseWords(manifest)}.`,
    '',
    'Check this volume:      sha256sum -c SHA256SUMS   (run in this directory)',
    ...(manifest.volume.count > 1
      ? severalVolumes(manifest.volume.count)
      : ['Verify the bundle:      ferry verify .', 'Import into a mirror:   ferry import . --into TARGET_DIR', '                        or, with POSIX sh and coreutils only: sh import.sh TARGET_DIR']),
    "import.sh checks every file's sha256 against this bundle's own table; it does NOT check",
    'signatures. When the origin of this bundle matters, run ferry verify first (or gpgv on the',
    'streams/v1/*.sjson files, with the keyring you trust).',
    '',
    `Signed by: ${[...new Set(manifest.signatures.map((signature) => signature.keyFingerprint))].join(', ') || '(unsigned)'}.`,
    'Stream Ferry checks signatures with the Ubuntu cloud image keyring it ships, or a keyring you name.',
    "It trusts this drive's keyrings/ only when you say so: first compare the fingerprints above with",
    "the publisher's, learned another way (anyone who could change this drive could re-sign it).",
    '',
    'bundle.json is written last: a directory without it is an unfinished export; export again.',
    'audit.jsonl records what was fetched, verified and exported, and by which keys it was signed.',
    '',
  ].join('\n');
}
