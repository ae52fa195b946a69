import { chromium, type Browser } from '@playwright/test';

// Debian's Chromium (no browser download on our machines), with the flags the brief names: no
// sandbox (we run as root), no GPU, and nothing that talks to the network on its own.
export const CHROMIUM_PATH = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}
