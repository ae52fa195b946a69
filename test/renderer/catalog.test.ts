// @vitest-environment-options {"url": "http://127.0.0.1:47813/"}
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, socketUrl, webSocketTransport } from '../../src-main/contract/index.js';
import { fromContract } from '../../src-renderer/lib/client.js';
import { AppState } from '../../src-renderer/lib/state/app.svelte.js';
import { startFerryUi, type RunningUi } from '../e2e/ferry-ui.js';
import App from '../../src-renderer/App.svelte';

// The catalog screen on the real engine: `ferry ui` in its own process (openpgp cannot even load
// under jsdom), reached over its WebSocket from this jsdom page, which takes the server's URL so
// that its Origin is the server's own (a fixed port: jsdom takes its origin when the file starts). The stream (global-setup.ts) is unsigned; the signed path
// is the e2e test's.

const PORT = '47813';

let workDir: string;
let ui: RunningUi;
let app: AppState;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ferry-renderer-'));
  ui = await startFerryUi(['--library', join(workDir, 'library'), '--port', PORT]);
  const transport = await webSocketTransport(new WebSocket(socketUrl(ui.url)));
  app = new AppState(fromContract(createClient(transport)));
  app.source.preset = 'custom';
  app.source.customUrl = `${inject('streamDir')}/streams/v1/index.json`;
  await app.loadSource();
}, 60_000);

afterAll(async () => {
  await ui.stop();
  await rm(workDir, { recursive: true, force: true });
});

describe('Catalog screen', () => {
  it('opens on the loaded stream, grouped by OS / release / arch, with bootloaders selected by default', async () => {
    expect(app.screen).toBe('catalog');
    render(App, { app });
    expect(screen.getByRole('checkbox', { name: 'Include bootloaders' })).toHaveProperty('checked', true);
    await waitFor(() => { expect(screen.getByRole('checkbox', { name: 'Select ubuntu noble arm64' })).toBeTruthy(); });
    await waitFor(() => { expect(screen.getByText(/products selected/).textContent).toMatch(/^[1-9]\d* of \d+ products selected/); });
  });

  it('keeps ticks and filter text in step both ways', async () => {
    render(App, { app });
    const text = screen.getByRole<HTMLTextAreaElement>('textbox', { name: /Selection as sstream filters/ });
    await fireEvent.click(screen.getByRole('checkbox', { name: 'Select ubuntu jammy amd64' }));
    expect(text.value.split('\n')).toContain('os=ubuntu release=jammy arch=amd64');
    await waitFor(() => { expect(screen.getByRole('checkbox', { name: 'Select ubuntu jammy amd64' })).toHaveProperty('checked', true); });

    // Typing a line ticks what the engine says it selects; removing it unticks.
    await fireEvent.input(text, { target: { value: 'release=noble' } });
    await waitFor(() => { expect(screen.getByRole('checkbox', { name: 'Select ubuntu noble arm64' })).toHaveProperty('checked', true); });
    await waitFor(() => { expect(screen.getByRole('checkbox', { name: 'Select ubuntu jammy amd64' })).toHaveProperty('checked', false); });
    expect(screen.getByRole('checkbox', { name: 'Include bootloaders' })).toHaveProperty('checked', false);
  });

  it("shows the engine's refusal of a malformed filter, with what to do", async () => {
    render(App, { app });
    const text = screen.getByRole<HTMLTextAreaElement>('textbox', { name: /Selection as sstream filters/ });
    await fireEvent.input(text, { target: { value: 'release' } });
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toMatch(/FERRY_(FILTER|INPUT)_INVALID/);
    expect(alert.textContent).toMatch(/What to do: \S+/);
  });
});
