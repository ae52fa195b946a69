// The catalog bench's page (test/bench/ui.ts): 25,000 product-shaped rows drawn either by the
// app's VirtualList (#windowed) or as one plain <table> (#plain). It reports to the bench through
// window.benchReady, set once the first frame with the rows is painted.
import { mount } from 'svelte';
import Page from './Page.svelte';

declare global {
  interface Window {
    benchReady?: { renderMs: number; rowsInDom: number };
    benchScroll: () => Promise<{ scrollMs: number; steps: number; longestFrameMs: number }>;
    benchFilter: (text: string) => Promise<{ filterMs: number; rowsInDom: number }>;
  }
}

const ROWS = Number(new URLSearchParams(location.search).get('rows') ?? '25000');
const kind = location.hash === '#plain' ? 'plain' : 'windowed';
const started = performance.now();
mount(Page, { target: document.getElementById('app') ?? document.body, props: { kind, count: ROWS } });
requestAnimationFrame(() => {
  setTimeout(() => {
    window.benchReady = { renderMs: performance.now() - started, rowsInDom: document.querySelectorAll('[role="row"], tr').length };
  }, 0);
});

const frame = (): Promise<number> => new Promise((done) => requestAnimationFrame(done));

/** Scrolls the whole table four screenfuls at a time (a fast flick), waiting for the frame that shows each step. */
window.benchScroll = async () => {
  const viewport = document.querySelector<HTMLElement>('.viewport');
  if (viewport === null) throw new Error('no scrolling viewport on the page');
  const started = performance.now();
  let last = started;
  let longestFrameMs = 0;
  let steps = 0;
  while (viewport.scrollTop + viewport.clientHeight < viewport.scrollHeight - 1) {
    viewport.scrollTop += 4 * viewport.clientHeight;
    const now = await frame();
    longestFrameMs = Math.max(longestFrameMs, now - last);
    last = now;
    steps += 1;
  }
  return { scrollMs: performance.now() - started, steps, longestFrameMs };
};

/** Types `text` into the Find box at once (as a paste) and waits for the frame that shows the filtered table to be painted. */
window.benchFilter = async (text) => {
  const find = document.querySelector<HTMLInputElement>('#find');
  if (find === null) throw new Error('no Find box on the page');
  const started = performance.now();
  find.value = text;
  find.dispatchEvent(new Event('input', { bubbles: true }));
  await frame();
  // The frame's callbacks run before its layout and paint; the task after them runs once it is painted.
  await new Promise((done) => setTimeout(done, 0));
  return { filterMs: performance.now() - started, rowsInDom: document.querySelectorAll('[role="row"], tr').length };
};
