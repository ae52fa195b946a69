// The SimpleStreams format, pure: locate, parse, expand aliases, flatten, filter, pick versions.
export { SOURCE_PRESET_NAMES, hostNameReading, joinMirrorUrl, resolveSource } from './source.js';
export type { ResolveSourceOptions, StreamSource } from './source.js';
export { MAX_METADATA_BYTES } from './json.js';
export { entriesToFollow, parseProducts, parseStreamDocument } from './documents.js';
export type { IndexDocument, IndexEntry, ProductsDocument, StreamDocument } from './documents.js';
export { assertSafeItemPath } from './paths.js';
export { flattenProducts } from './flatten.js';
export type { FlatItem, ItemChecksums, StreamItem } from './flatten.js';
export { OR_SEPARATOR, formatSelection, parseSelection } from './filters.js';
export type { ItemFilter, Selection } from './filters.js';
export { selectItems, selectVersions } from './select.js';
export type { SelectOptions, SelectedProduct, SelectedVersion } from './select.js';
export { compareVersionNames, newestVersions, resolveVersions } from './versions.js';
export type { VersionWork } from './versions.js';
export { BOOTLOADER_GROUP, explainNoMatch, lacksBootloaders } from './diagnose.js';
export type { NoMatchReport, UnknownKey, UnmatchedValue } from './diagnose.js';
