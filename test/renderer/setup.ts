// jsdom has no layout and so no ResizeObserver, which Svelte's bind:clientHeight uses. Sizes stay
// at the components' defaults in these tests; real layout is the e2e test's job (Chromium).
class NoLayoutResizeObserver {
  observe(): void {}
  unobserve(): void {}
  disconnect(): void {}
}
if (!('ResizeObserver' in globalThis)) Object.assign(globalThis, { ResizeObserver: NoLayoutResizeObserver });

