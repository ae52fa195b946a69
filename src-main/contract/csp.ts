// The Content-Security-Policy the renderer runs under, in the Electron shell and in browser mode
// alike: only its own scripts, styles and images, no plugins, no frames, no forms posting away,
// and connections only to the engine. Svelte components compile to external CSS, so no inline
// script or style is needed.

/**
 * The policy text. `connect` lists where the renderer may connect besides 'self' (browser mode:
 * its own `ws://host:port`, since 'self' does not cover ws: in every browser); none in Electron,
 * where the engine is reached over a MessagePort.
 */
export function rendererContentSecurityPolicy(connect: readonly string[] = []): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src ${["'self'", ...connect].join(' ')}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}
