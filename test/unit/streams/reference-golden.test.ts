// Our parse + flatten + filter + --max against what the Python reference's sstream-query --json
// printed for the same streams (test/fixtures/reference/README.txt).

import { describe, expect, it } from 'vitest';
import { entriesToFollow, parseIndex, parseProducts, type ProductsDocument } from '../../../src-main/streams/documents.js';
import { parseSelection } from '../../../src-main/streams/filters.js';
import { selectItems } from '../../../src-main/streams/select.js';
import { joinMirrorUrl, resolveSource } from '../../../src-main/streams/source.js';
import { readEdgeStreamFile, readGolden, readSample, SAMPLE_FILES, type QueryGolden, type SampleContentId } from './reference-data.js';

function splitQueryArgs(args: readonly string[]): { filters: string[]; max: number | undefined } {
  const filters: string[] = [];
  let max: number | undefined;
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index] ?? '';
    if (arg === '--max') {
      max = Number(args[index + 1]);
      index += 1;
    } else filters.push(arg);
  }
  return { filters, max };
}

// What sstream-query --json prints: the flat item plus item_url for items with a path. The
// reference joins base and path as raw text, so a space stays a space there; our URL escapes it,
// and decoding ours must give theirs.
function queryLikeReference(golden: QueryGolden, readProducts: (path: string, contentId: string) => ProductsDocument, indexText: string) {
  const source = resolveSource(golden.mirror_url);
  const index = parseIndex(indexText, source.entryPath);
  return golden.cases.map(({ args }) => {
    const { filters, max } = splitQueryArgs(args);
    const selection = parseSelection(filters);
    return entriesToFollow(index).flatMap((entry) =>
      selectItems(readProducts(entry.path ?? '', entry.contentId), selection, { max }).map((item) => {
        const printed: Record<string, string> = { ...item.flat };
        if (item.path !== undefined) printed['item_url'] = decodeURI(joinMirrorUrl(source.baseUrl, item.path));
        return printed;
      }),
    );
  });
}

describe('sstream-query golden output', () => {
  it('matches every case on the MAAS stable sample', () => {
    const golden = readGolden('maas-stable-sample.query.json') as QueryGolden;
    const ours = queryLikeReference(
      golden,
      (path, contentId) => {
        expect(Object.keys(SAMPLE_FILES)).toContain(contentId);
        return parseProducts(readSample(contentId as SampleContentId), path);
      },
      readSample('index'),
    );
    expect(golden.cases.length).toBe(20);
    golden.cases.forEach((goldenCase, index) => {
      expect({ args: goldenCase.args, output: ours[index] }).toEqual({ args: goldenCase.args, output: goldenCase.output });
    });
  });

  it('matches every case on the edge-case stream (numbers, aliases, name overrides, key order)', () => {
    const golden = readGolden('edge-stream.query.json') as QueryGolden;
    const ours = queryLikeReference(golden, (path) => parseProducts(readEdgeStreamFile(path), path), readEdgeStreamFile('streams/v1/index.json'));
    expect(golden.cases.length).toBe(11);
    golden.cases.forEach((goldenCase, index) => {
      expect({ args: goldenCase.args, output: ours[index] }).toEqual({ args: goldenCase.args, output: goldenCase.output });
    });
  });

  it('really compares something: the cases cover empty and non-empty results', () => {
    const golden = readGolden('maas-stable-sample.query.json') as QueryGolden;
    const sizes = golden.cases.map((goldenCase) => goldenCase.output.length);
    expect(sizes).toContain(0);
    expect(Math.max(...sizes)).toBe(53);
  });
});
