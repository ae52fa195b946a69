import { describe, expect, it } from 'vitest';
import { REPAIR_COUNT_WORDS, describeRepair } from '../../../src-main/cli/progress-display.js';
import { NO_LIBRARY_REPAIRS, NO_TREE_REPAIRS } from '../../../src-main/library/repair.js';

describe('repair reports in an operator words', () => {
  it('has words for every count a library or tree repair reports', () => {
    const fields = [...Object.keys(NO_LIBRARY_REPAIRS), ...Object.keys(NO_TREE_REPAIRS)].filter((name) => name !== 'finding');
    for (const field of fields) expect(REPAIR_COUNT_WORDS, field).toHaveProperty(field);
  });

  it('calls kept partial downloads a resume, not a repair, and never prints field names', () => {
    const line = describeRepair({ ...NO_TREE_REPAIRS, partialFilesKept: 2 });
    expect(line).toBe('Resuming from an earlier run: 2 partial download(s) kept to resume.');
    expect(line).not.toMatch(/[a-z][A-Z]/);
  });

  it('says tampering or a lost catalog when files were changed behind its back', () => {
    const line = describeRepair({ ...NO_TREE_REPAIRS, finding: 'tampering-or-lost-catalog', treeFilesDropped: 2, heldItemsDropped: 2 });
    expect(line).toContain('tampering or a lost catalog');
    expect(line).toContain('2 mirror file(s) missing or changed since verified; 2 item(s) no longer complete, to fetch again');
    expect(line).not.toMatch(/[a-z][A-Z]/);
  });

  it('words other leftovers as the clean-up of a stopped run', () => {
    expect(describeRepair({ ...NO_LIBRARY_REPAIRS, tempFilesRemoved: 1, partialFilesKept: 1 })).toBe(
      'Cleaned up after an earlier run that stopped part way: 1 leftover temporary file(s) removed; 1 partial download(s) kept to resume.',
    );
  });
});
