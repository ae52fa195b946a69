// The import graph of src-main/ as issue 8 asks for it: no cycle, and no arrow from a domain folder
// or base/ up into engine/ or a face. ESLint's no-restricted-imports sees one file at a time, so it
// cannot see a cycle; this test reads every import (type-only ones and re-exports included, since
// they tie modules together just the same) with TypeScript's own pre-processor.
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');
const sourceDir = join(root, 'src-main');
const lowerFolders = ['base', 'streams', 'pgp', 'net', 'library', 'mirror', 'media', 'serve'];
const upperFolders = ['engine', 'cli', 'desktop', 'web'];

/** src-main-relative path (e.g. `net/http.ts`) → the src-main-relative files it imports. */
async function importGraph(): Promise<Map<string, string[]>> {
  const entries = await readdir(sourceDir, { recursive: true, withFileTypes: true });
  const files = entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => relative(sourceDir, join(entry.parentPath, entry.name)))
    .sort();
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = await readFile(join(sourceDir, file), 'utf8');
    const imported = ts
      .preProcessFile(text, true, true)
      .importedFiles.map((reference) => reference.fileName)
      .filter((specifier) => specifier.startsWith('.'))
      // Sources import their siblings as `.js` (NodeNext); the file on disk is the `.ts`.
      .map((specifier) => relative(sourceDir, resolve(sourceDir, dirname(file), specifier)).replace(/\.js$/, '.ts'));
    graph.set(file, [...new Set(imported)]);
  }
  return graph;
}

/** Every cycle, each once, as `a.ts → b.ts → a.ts` (depth-first search over the graph). */
function findCycles(graph: Map<string, string[]>): string[] {
  const cycles = new Set<string>();
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') {
        const loop = path.slice(path.indexOf(next));
        // Rotate so the same loop found from another start prints the same way.
        const start = loop.indexOf([...loop].sort()[0] ?? next);
        const rotated = [...loop.slice(start), ...loop.slice(0, start)];
        cycles.add([...rotated, rotated[0]].join(' → '));
      } else if (!state.has(next)) {
        visit(next);
      }
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return [...cycles].sort();
}

const topFolder = (file: string): string => file.split(/[\\/]/)[0] ?? '';

describe('the import graph of src-main/', () => {
  it('reads the imports it judges (type-only imports and re-exports included)', async () => {
    const graph = await importGraph();
    expect(graph.size).toBeGreaterThan(50);
    // agent.ts imports `type RetryPolicy` with a value; index.ts re-exports with `export ... from`.
    expect(graph.get(join('net', 'agent.ts'))).toContain(join('net', 'retry.ts'));
    expect(graph.get(join('net', 'index.ts'))).toContain(join('net', 'agent.ts'));
    expect(graph.get(join('net', 'http.ts'))).toContain(join('net', 'agent.ts'));
  });

  it('finds a cycle when there is one', () => {
    const graph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(findCycles(graph)).toEqual(['a.ts → b.ts → c.ts → a.ts']);
  });

  it('has no cycle', async () => {
    expect(findCycles(await importGraph())).toEqual([]);
  });

  it('has no arrow from base/ or a domain folder up into engine/ or a face', async () => {
    const upward: string[] = [];
    for (const [file, imports] of await importGraph()) {
      if (!lowerFolders.includes(topFolder(file))) continue;
      for (const target of imports) {
        if (upperFolders.includes(topFolder(target))) upward.push(`${file} → ${target}`);
      }
    }
    expect(upward).toEqual([]);
  });
});
