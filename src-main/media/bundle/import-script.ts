// Placeholder so this branch builds: the generator of import.sh is written on branch i9-importsh
// and replaces this file at merge. It keeps the signature the exporter calls.
import type { BundleManifest } from './manifest.js';

/** The bundle's import.sh (POSIX sh + coreutils). Placeholder: prints that it is not generated and fails. */
export function importScriptText(manifest: BundleManifest): string {
  return `#!/bin/sh\n# Stream Ferry bundle ${manifest.id}\necho 'import.sh not yet generated' >&2\nexit 1\n`;
}
