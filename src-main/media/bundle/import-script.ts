// The bundle's own importer, import.sh: the one piece of a bundle that runs where Stream Ferry is
// not installed. It needs POSIX sh and coreutils only (sha256sum, cat, cp, mv, mkdir, rm, sync,
// and POSIX find for incremental bundles), and runs under dash and busybox sh. It follows the
// import rules of docs/bundle.md ("Import") that `ferry import` follows, so both build the same
// tree byte for byte. What to copy is a table generated here from the manifest, so the script
// needs no JSON parser.
import { FerryError } from '../../base/errors.js';
import { BUNDLE_FILES, PARTIAL_SUFFIX, type BundleFile, type BundleManifest } from './manifest.js';
import { baseWords } from './readme.js';

/** import.sh's exit statuses (also in docs/bundle.md): 3 and 4 tell "damaged" from "not all here yet". */
export const IMPORT_SCRIPT_EXIT = {
  complete: 0,
  failed: 1,
  usage: 2,
  badBlob: 3,
  incomplete: 4,
} as const;

const TABLE_END = 'FERRY_TABLE_END';

/**
 * The text of import.sh for one volume of a bundle (`sh import.sh TARGET_DIR`, from any directory).
 * Each item file whose blob is on this volume is joined from its blob or parts into
 * `<path>.partial` (PARTIAL_SUFFIX), hashed with sha256sum, and renamed into place; a file already
 * at its path with the right sha256 is kept; an item whose blob is not on this volume is copied
 * from a file of the same size and sha256 already in TARGET (incremental bundles). Metadata files
 * are written last, products files before the index, and only once every file of `files` is in
 * place. Exits 0 when the tree is complete, 3 naming a damaged blob and its path (nothing from it
 * reaches a final path), 4 listing the files still missing (other volumes, or the base of an
 * incremental bundle), 1 on other failures, 2 on usage. Rerunnable after an interruption.
 * Throws FERRY_BUNDLE_INVALID (field `files[i].path`) for a path the script could not carry
 * safely (a control character), which parseBundleManifest already refuses.
 */
export function importScriptText(manifest: BundleManifest): string {
  const blobsHere = new Map(manifest.blobs.map((entry) => [entry.sha256, entry.parts === undefined ? 1 : entry.parts.length]));
  const rows = writeOrder(manifest).map(({ file, index }) => {
    if (/[\p{Cc}]/u.test(file.path)) {
      throw new FerryError('FERRY_BUNDLE_INVALID', `bundle.json: files[${index}].path holds a control character, which import.sh cannot carry`, {
        field: `files[${index}].path`,
        actual: JSON.stringify(file.path),
      });
    }
    return `${file.role} ${file.sha256} ${file.size} ${blobsHere.get(file.sha256) ?? '-'} ${file.path}`;
  });
  const { volume } = manifest;
  const base = baseWords(manifest);
  return [
    '#!/bin/sh',
    `# Stream Ferry bundle ${manifest.id}, volume ${volume.index} of ${volume.count}: imports this volume's`,
    '# files into a SimpleStreams mirror tree, byte for byte the tree Stream Ferry builds from the same bundle.',
    '#',
    '#   sh import.sh TARGET_DIR      (TARGET_DIR outside this bundle; sh import.sh --help for this text)',
    '#',
    '# Needs POSIX sh and coreutils only. Every file is checked with sha256sum before it is renamed',
    '# into place; metadata (streams/v1/) is written last, once every file is in place, so MAAS never',
    '# sees an index whose files are not all there. Safe to run again after an interruption.',
    "# It checks sha256 against this bundle's own table and does NOT check signatures: when the",
    "# bundle's origin matters, run `ferry verify` first (or gpgv on the streams/v1 .sjson files).",
    `# Exit status: ${IMPORT_SCRIPT_EXIT.complete} complete; ${IMPORT_SCRIPT_EXIT.badBlob} a damaged blob (named);`,
    `# ${IMPORT_SCRIPT_EXIT.incomplete} files still missing (named: other volumes, or a blob missing from this bundle);`,
    `# ${IMPORT_SCRIPT_EXIT.failed} another failure (a write to the target disk failed: full?); ${IMPORT_SCRIPT_EXIT.usage} usage.`,
    '#---',
    'set -u',
    'unset CDPATH',
    `BUNDLE_ID=${manifest.id}`,
    `VOLUME=${volume.index}`,
    `VOLUMES=${volume.count}`,
    `BASE=${shellQuote(base)}`,
    `PARTIAL=${shellQuote(PARTIAL_SUFFIX)}`,
    `MANIFEST=${shellQuote(BUNDLE_FILES.manifest)}`,
    '# One line per file of the tree: ROLE SHA256 SIZE STORAGE PATH, where STORAGE is 1 (the blob is',
    '# one file on this volume), N (N parts on this volume) or - (not on this volume). Items come',
    '# first; metadata in the order it is written (products files before the index).',
    `TABLE=$(cat <<'${TABLE_END}'`,
    ...rows,
    TABLE_END,
    ')',
    scriptBody(),
  ].join('\n');
}

/** Items first, in manifest order; then metadata, indexes after products files and the entry index last. */
function writeOrder(manifest: BundleManifest): { file: BundleFile; index: number }[] {
  const indexed = manifest.files.map((file, index) => ({ file, index }));
  const rank = ({ file }: { file: BundleFile }): number => {
    if (file.role === 'item') return 0;
    if (file.path === manifest.source.indexPath) return 3;
    return /(^|\/)index\.s?json$/.test(file.path) ? 2 : 1;
  };
  return indexed.sort((a, b) => rank(a) - rank(b) || a.index - b.index);
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}


// The script's logic. @NAME@ stands for a value of this module and the shell's own parameter
// expansions are written $\{...} (a template literal would take ${ as its own), both put right
// by scriptBody().
const SCRIPT_TEMPLATE = String.raw`
say() { printf '%s\n' "$*"; }
fail() { status=$1; shift; printf 'import.sh: %s\n' "$*" >&2; exit "$status"; }

case $0 in */*) here=$\{0%/*} ;; *) here=. ;; esac
here=$(cd -- "$here" && pwd -P) || fail @FAILED@ "cannot find this script's folder from $0"
case $\{1-} in
  -h | --help)
    # The header comment, up to its end mark, is the usage text.
    while IFS= read -r line; do
      case $line in '#!'*) continue ;; '#---') break ;; esac
      say "$\{line#\#}"
    done < "$here/import.sh"
    exit @COMPLETE@ ;;
esac
[ $# -eq 1 ] && [ -n "$1" ] || fail @USAGE@ "usage: sh import.sh TARGET_DIR (sh import.sh --help says more)"
case $1 in -*) fail @USAGE@ "TARGET_DIR '$1' starts with '-': an option this script does not take (sh import.sh --help); write ./$1 for a folder of that name" ;; esac
case $1 in /*) asked=$1 ;; *) asked=$(pwd -P)/$1 ;; esac
# A target inside the bundle would put the mirror on the drive, in the bundle's own folder.
inside_bundle() { case $1/ in "$here"/*) return 0 ;; *) return 1 ;; esac; }
inside_bundle "$asked" && fail @USAGE@ "TARGET_DIR $1 is inside this bundle ($here); name a folder outside it, such as the mirror's folder on this machine"
[ -f "$here/$MANIFEST" ] || fail @FAILED@ "$here has no $MANIFEST: that export did not finish; export it again"
mkdir -p -- "$1" || fail @FAILED@ "cannot create the target folder $1"
target=$(cd -- "$1" && pwd -P) || fail @FAILED@ "cannot enter the target folder $1"
inside_bundle "$target" && fail @USAGE@ "TARGET_DIR $1 is inside this bundle ($here); name a folder outside it"

# The partial file being written, removed if the script is stopped (kill -9 leaves it for the next
# run, which writes it again from the start).
current=
trap 'if [ -n "$current" ]; then rm -f -- "$current"; fi; exit 130' INT TERM HUP

hash_of() {
  sum=$(sha256sum < "$1") || return 1
  printf '%s' "$\{sum%% *}"
}

# Refuses what the table should never hold (the exporter checked it; this script may be edited),
# and any link or non-folder on the way to the file: nothing is written through a link.
check_path() {
  case /$1/ in
    *//* | */./* | */../* | /.ferry/*) fail @FAILED@ "refused the path '$1' in this script's table" ;;
  esac
  rest=$1
  at=$target
  while :; do
    case $rest in */*) ;; *) break ;; esac
    at=$at/$\{rest%%/*}
    rest=$\{rest#*/}
    if [ -L "$at" ] || { [ -e "$at" ] && [ ! -d "$at" ]; }; then
      fail @FAILED@ "$at is a link or not a folder, so '$1' cannot be written there; move it away and run again"
    fi
  done
  if [ -L "$at/$rest" ] || { [ -e "$at/$rest" ] && [ ! -f "$at/$rest" ]; }; then
    fail @FAILED@ "$at/$rest is a link or not a plain file; move it away and run again"
  fi
}

in_place() { [ -f "$target/$1" ] && [ "$(hash_of "$target/$1")" = "$2" ]; }

# The files holding blob $1 on this volume ($2 = 1 whole, N parts), one per line.
storage() {
  blob=$here/@BLOBS@/$(printf '%.2s' "$1")/$1
  if [ "$2" = 1 ]; then say "$blob"; return; fi
  n=1
  while [ "$n" -le "$2" ]; do say "$blob.part-$n"; n=$((n + 1)); done
}

# Joins blob $1 ($2 as in storage) into the partial file of path $3, checks it, renames it into place.
write_from_blob() {
  final=$target/$3
  mkdir -p -- "$\{final%/*}" || fail @FAILED@ "cannot create the folder of $3"
  current=$final$PARTIAL
  rm -f -- "$current"
  : > "$current" || fail @FAILED@ "cannot write $current"
  files=$(storage "$1" "$2")
  while IFS= read -r part; do
    if [ ! -f "$part" ]; then
      rm -f -- "$current"
      fail @INCOMPLETE@ "blob $1 for $3: $part is missing from this bundle; nothing was written at $3. Copy the bundle again from the online side."
    fi
    if ! cat -- "$part" >> "$current"; then
      rm -f -- "$current"
      # A part that reads whole on its own was not the trouble: the write was.
      if cat -- "$part" > /dev/null 2>&1; then
        disk=$(df -P -- "$target" 2>/dev/null | tail -n 1)
        fail @FAILED@ "cannot write $3 to $target (the disk mounted at $\{disk##* }): is it full? nothing was written at $3; free space there and run again"
      fi
      fail @BAD_BLOB@ "blob $1 for $3: cannot read $part; nothing was written at $3"
    fi
  done <<FERRY_PARTS
$files
FERRY_PARTS
  got=$(hash_of "$current")
  if [ "$got" != "$1" ]; then
    rm -f -- "$current"
    fail @BAD_BLOB@ "blob $1 for $3 is damaged (its bytes hash to $got); nothing was written at $3. Copy the bundle again from the online side."
  fi
  mv -f -- "$current" "$final" || fail @FAILED@ "cannot rename $current to $final"
  current=
  say "written $3"
}

# Whether blob $1 ($2 as in storage) on this volume holds the bytes its name says.
blob_ok() {
  sum=$(storage "$1" "$2" | while IFS= read -r part; do cat -- "$part" || exit 1; done | sha256sum) || return 1
  [ "$\{sum%% *}" = "$1" ]
}

# A file already in TARGET with sha256 $1 and size $2 (an incremental bundle's blob the site holds).
donor_of() {
  find "$target" -name '.ferry' -prune -o -type f -size "$2c" ! -name "*$PARTIAL" -print 2>/dev/null |
    while IFS= read -r candidate; do
      if [ "$(hash_of "$candidate")" = "$1" ]; then say "$candidate"; break; fi
    done
}

write_from_donor() {
  final=$target/$3
  mkdir -p -- "$\{final%/*}" || fail @FAILED@ "cannot create the folder of $3"
  current=$final$PARTIAL
  rm -f -- "$current"
  cp -- "$4" "$current" || fail @FAILED@ "cannot copy $4 to $current"
  if [ "$(hash_of "$current")" != "$1" ]; then
    rm -f -- "$current"
    fail @FAILED@ "$4 changed while it was copied to $3; run again"
  fi
  mv -f -- "$current" "$final" || fail @FAILED@ "cannot rename $current to $final"
  current=
  say "written $3 (from $\{4#"$target/"})"
}

missing=
missing_count=0
note_missing() {
  missing_count=$((missing_count + 1))
  if [ "$missing_count" -le 20 ]; then missing="$missing  $2 (blob $1)
"; fi
}

# Splits a table line into role, sha, size, where and path (the rest of the line, spaces and all).
read_row() {
  role=$\{1%% *}; rest=$\{1#* }
  sha=$\{rest%% *}; rest=$\{rest#* }
  size=$\{rest%% *}; rest=$\{rest#* }
  where=$\{rest%% *}; path=$\{rest#* }
}

# Step 1, data: every item file, from this volume or from a copy already in TARGET.
kept=0
while IFS= read -r line; do
  read_row "$line"
  check_path "$path"
  [ "$role" = item ] || continue
  if in_place "$path" "$sha"; then kept=$((kept + 1)); continue; fi
  if [ "$where" != - ]; then write_from_blob "$sha" "$where" "$path"; continue; fi
  donor=$(donor_of "$sha" "$size")
  if [ -n "$donor" ]; then write_from_donor "$sha" "$size" "$path" "$donor"; continue; fi
  if [ -n "$BASE" ] && [ "$VOLUMES" = 1 ]; then
    fail @INCOMPLETE@ "blob $sha for $path is not in this bundle and no file in $target has it; this incremental bundle expects the site to hold it already (its base: $BASE). Import that bundle first, or export a full bundle."
  fi
  note_missing "$sha" "$path"
done <<FERRY_TABLE
$TABLE
FERRY_TABLE

# Step 2, metadata, only once every file is in place: first check that all of it can be written,
# so that a damaged products file cannot leave the tree with half of the new metadata.
while IFS= read -r line; do
  read_row "$line"
  [ "$role" = metadata ] || continue
  in_place "$path" "$sha" && continue
  if [ "$where" = - ]; then note_missing "$sha" "$path"; continue; fi
  files=$(storage "$sha" "$where")
  while IFS= read -r part; do
    [ -f "$part" ] || fail @INCOMPLETE@ "blob $sha for $path: $part is missing from this bundle; no metadata was written. Copy the bundle again from the online side."
  done <<FERRY_PARTS
$files
FERRY_PARTS
  blob_ok "$sha" "$where" || fail @BAD_BLOB@ "blob $sha for $path is damaged; no metadata was written. Copy the bundle again from the online side."
done <<FERRY_TABLE
$TABLE
FERRY_TABLE

if [ "$missing_count" -gt 0 ]; then
  say "This volume's files are in place ($kept were already there), but $missing_count file(s) of the mirror are still missing:"
  printf '%s' "$missing"
  if [ "$missing_count" -gt 20 ]; then say "  ... and $((missing_count - 20)) more"; fi
  if [ -n "$BASE" ]; then
    say "Import the bundle's other volumes (this is volume $VOLUME of $VOLUMES) into $target; this incremental bundle also expects the site to hold what its base ($BASE) shows it has."
  else
    say "Import the bundle's other volumes (this is volume $VOLUME of $VOLUMES) into $target. The metadata is written by the run that finds every file present."
  fi
  exit @INCOMPLETE@
fi

sync
while IFS= read -r line; do
  read_row "$line"
  [ "$role" = metadata ] || continue
  in_place "$path" "$sha" && continue
  write_from_blob "$sha" "$where" "$path"
done <<FERRY_TABLE
$TABLE
FERRY_TABLE
sync
say "Done: $target holds the mirror of bundle $BUNDLE_ID ($kept file(s) were already in place)."
exit @COMPLETE@
`;

function scriptBody(): string {
  const values: Record<string, string> = {
    COMPLETE: String(IMPORT_SCRIPT_EXIT.complete),
    FAILED: String(IMPORT_SCRIPT_EXIT.failed),
    USAGE: String(IMPORT_SCRIPT_EXIT.usage),
    BAD_BLOB: String(IMPORT_SCRIPT_EXIT.badBlob),
    INCOMPLETE: String(IMPORT_SCRIPT_EXIT.incomplete),
    BLOBS: BUNDLE_FILES.blobs,
  };
  return SCRIPT_TEMPLATE.replace(/@([A-Z_]+)@/g, (token, name: string) => values[name] ?? token).replaceAll('$\\{', '${');
}
