import { fireEvent, render, screen } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import TableOf from './fixtures/TableOf.svelte';

describe('VirtualList', () => {
  it('draws only the rows in view of 25,000, and tells assistive technology the full count', () => {
    render(TableOf, { count: 25_000 });
    const table = screen.getByRole('table', { name: 'Numbers' });
    expect(table.getAttribute('aria-rowcount')).toBe('25001');
    const rows = screen.getAllByRole('row');
    // jsdom has no layout: the viewport counts as 800 px, 40 rows, plus overscan.
    expect(rows.length).toBeLessThan(70);
    expect(screen.getByText('row 0')).toBeTruthy();
    expect(screen.queryByText('row 24999')).toBeNull();
  });

  it('moves the window with the scroll position, keeping row indexes exact', async () => {
    render(TableOf, { count: 25_000 });
    const viewport = screen.getAllByRole('rowgroup')[1];
    if (viewport === undefined) throw new Error('no viewport');
    viewport.scrollTop = 20 * 20_000;
    await fireEvent.scroll(viewport);
    expect(screen.queryByText('row 0')).toBeNull();
    const row = screen.getByText('row 20000').closest('[role="row"]');
    expect(row?.getAttribute('aria-rowindex')).toBe('20002');
    viewport.scrollTop = 20 * 24_990;
    await fireEvent.scroll(viewport);
    expect(screen.getByText('row 24999')).toBeTruthy();
  });
});
