// @vitest-environment-options {"url": "http://127.0.0.1:47814/"}
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, socketUrl, webSocketTransport, type FerryClient as ContractClient, type JobOutcomes } from '../../src-main/contract/index.js';
import { fromContract } from '../../src-renderer/lib/client.js';
import { AppState } from '../../src-renderer/lib/state/app.svelte.js';
import App from '../../src-renderer/App.svelte';
import { mountSmallExt4, requireMount, unmount } from '../support/loop-disk.js';
import { startFerryUi, type RunningUi } from '../e2e/ferry-ui.js';

// The Source, Catalog advice, Plan, Offline and History screens on the real engine: `ferry ui` in
// its own process, reached over its WebSocket from this jsdom page (see catalog.test.ts for why a
// fixed port). The signed stream (global-setup.ts) is synced, exported to a folder, verified,
// imported and given a receipt, each through the screens' state, and the screens show the outcome.

const PORT = '47814';

let workDir: string;
let ui: RunningUi;
let contract: ContractClient;
let app: AppState;
const signed = inject('signedStream');

/** A fresh app on the engine, like a new tab. */
function newApp(): AppState {
  return new AppState(fromContract(contract));
}

/** Runs one job through the contract's client and answers its outcome (the Export screen is not this file's). */
async function runJob<K extends 'export'>(kind: K, input: unknown): Promise<JobOutcomes[K]> {
  const { jobId } = await contract.call('jobs.start', { kind, input } as never);
  return new Promise((resolve, reject) => {
    void contract.follow(jobId, (event) => {
      if (event.type === 'result') resolve(event.outcome as JobOutcomes[K]);
      else if (event.type === 'failed' || event.type === 'cancelled' || event.type === 'paused') reject(new Error(`${kind} ended ${event.type}: ${JSON.stringify(event)}`));
    });
  });
}

/** A Blob's text through FileReader (jsdom's Blob has no text()). */
function blobText(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => { resolve(String(reader.result)); };
    reader.onerror = () => { reject(reader.error ?? new Error('unreadable blob')); };
    reader.readAsText(blob);
  });
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ferry-renderer-screens-'));
  ui = await startFerryUi(['--library', join(workDir, 'library'), '--port', PORT]);
  contract = createClient(await webSocketTransport(new WebSocket(socketUrl(ui.url))));
  app = newApp();
  app.source.preset = 'custom';
  app.source.customUrl = signed.entry;
  app.source.keyring = signed.keyringFile;
  await app.loadSource();
}, 60_000);

afterEach(() => {
  cleanup();
});

afterAll(async () => {
  contract.close();
  await ui.stop();
  await rm(workDir, { recursive: true, force: true });
});

describe('Source screen', () => {
  it('shows who signed, and when upstream signed each metadata file', async () => {
    expect(app.source.loaded?.trust.kind).toBe('verified');
    app.go('source');
    render(App, { app });
    const banner = screen.getByRole('status', { name: 'Verification' });
    expect(banner.textContent).toMatch(/Verified: every metadata file carries a good signature/);
    // The generator signs at load time: today, in the operator's local time.
    expect(banner.textContent).toMatch(/Upstream signed on .+ \(today\)/);
    const rows = within(screen.getByRole('table', { name: 'Signatures' })).getAllByRole('row').slice(1);
    expect(rows.map((row) => row.querySelector('code')?.textContent)).toContain('streams/v1/index.sjson');
    expect(rows.length).toBe(app.source.loaded?.metadataFiles);
    for (const row of rows) expect(row.textContent).toMatch(/\(today\)[0-9A-F]{40}/);
  });

  it('says NOT VERIFIED loudly (an alert) for a stream without signatures', async () => {
    const unsigned = newApp();
    unsigned.source.preset = 'custom';
    unsigned.source.customUrl = `${inject('streamDir')}/streams/v1/index.json`;
    await unsigned.loadSource();
    unsigned.go('source');
    render(App, { app: unsigned });
    const banner = screen.getByRole('alert', { name: 'Verification' });
    expect(banner.textContent).toMatch(/NOT VERIFIED: this source publishes no signatures/);
    expect(screen.queryByRole('table', { name: 'Signatures' })).toBeNull();
  });
});

describe('Catalog screen advice', () => {
  it("says why the filter text matched nothing, in the engine's facts (catalog.advise)", async () => {
    const catalog = newApp();
    catalog.source.preset = 'custom';
    catalog.source.customUrl = signed.entry;
    catalog.source.keyring = signed.keyringFile;
    await catalog.loadSource();
    render(App, { app: catalog });
    await fireEvent.input(screen.getByRole('textbox', { name: /Selection as sstream filters/ }), { target: { value: 'release=jamy' } });
    const advice = await screen.findByRole('status', { name: 'Why nothing matched' });
    expect(advice.textContent).toMatch(/release=jamy: no item matches; values of 'release' include .*jammy/);
    await fireEvent.input(screen.getByRole('textbox', { name: /Selection as sstream filters/ }), { target: { value: 'release=jammy' } });
    await waitFor(() => { expect(screen.queryByRole('status', { name: 'Why nothing matched' })).toBeNull(); });
  });
});

describe('Plan screen', () => {
  it("shows the free space of the library's disk beside the totals", async () => {
    app.catalog.text = 'os~^(grub|pxelinux)\nos=ubuntu release=jammy arch=amd64';
    await app.transfer.makePlan();
    app.go('plan');
    render(App, { app });
    const free = screen.getByRole('row', { name: /Free on the library's disk/ });
    expect(free.textContent).toMatch(/\d+(\.\d)? [KMGT]iB$/);
    expect(app.transfer.space?.freeBytes).toBeGreaterThan(app.transfer.plan?.bytesToFetch ?? Infinity);
    expect(screen.getByRole('button', { name: /Start sync/ })).toBeTruthy();
  });

  it('refuses before starting when the downloads do not fit on the library disk', async (context) => {
    const mounted = await mountSmallExt4(workDir, 'tiny', 4);
    try {
      const tiny = requireMount(mounted, context);
      const small = newApp();
      small.source.preset = 'custom';
      small.source.customUrl = signed.entry;
      small.source.keyring = signed.keyringFile;
      await small.loadSource();
      small.catalog.text = 'os=ubuntu release=jammy arch=amd64';
      small.transfer.library = join(tiny, 'library');
      await small.transfer.makePlan();
      small.go('plan');
      render(App, { app: small });
      const alert = screen.getByRole('alert');
      expect(alert.textContent).toMatch(/Not enough space: the sync downloads .+ but only .+ is free on the library's disk/);
      expect(alert.textContent).toMatch(/FERRY_NOT_ENOUGH_SPACE/);
      expect(screen.queryByRole('button', { name: /Start sync/ })).toBeNull();
      await small.startSync();
      expect(small.transfer.sync.state).toBe('idle');
    } finally {
      await unmount(mounted);
    }
  });
});

describe('after a sync and an export', () => {
  let exportOutcome: JobOutcomes['export'];
  const exportDir = (): string => join(workDir, 'export');
  const importDir = (): string => join(workDir, 'imported');

  beforeAll(async () => {
    await app.startSync();
    expect(app.transfer.sync.state, JSON.stringify(app.transfer.sync.error)).toBe('succeeded');
    await mkdir(exportDir());
    const source = app.source.loaded?.source;
    exportOutcome = await runJob('export', { to: exportDir(), source, selection: app.catalog.groups, max: 1, keyringFiles: [signed.keyringFile], library: join(workDir, 'library') });
  }, 120_000);

  it('Offline: verifies with its own keyring field, the bundled Ubuntu keyring by default', async () => {
    app.go('offline');
    render(App, { app });
    const keyring = screen.getByRole<HTMLTextAreaElement>('textbox', { name: /Keyring files for the bundle's signatures/ });
    // Not the Source screen's keyring: this side of the gap starts from the bundled one, as `ferry verify`.
    expect(keyring.value).toBe('');
    await fireEvent.input(screen.getByRole('textbox', { name: 'Bundle folder' }), { target: { value: exportDir() } });
    await app.offline.runVerify();
    expect(app.offline.verify.error?.code).toMatch(/^FERRY_(SIG_UNKNOWN_KEY|BUNDLE_KEY_UNTRUSTED)$/);

    await fireEvent.input(keyring, { target: { value: signed.keyringFile } });
    await app.offline.runVerify();
    const result = await screen.findByRole('status', { name: 'Verify result' });
    expect(result.textContent).toMatch(/Complete: every file is present\.\s+Valid: every hash matches\./);
    expect(within(screen.getByRole('list', { name: 'Signatures' })).getAllByRole('listitem')[0]?.textContent).toMatch(/signed by [0-9A-F]{40} on /);
  });

  it('Offline: imports, then writes a receipt of the imported tree (receipts.write)', async () => {
    app.go('offline');
    render(App, { app });
    await fireEvent.input(screen.getByRole('textbox', { name: 'Into folder' }), { target: { value: importDir() } });
    await app.offline.runImport();
    expect((await screen.findByRole('status', { name: 'Import result' })).textContent).toMatch(/Imported into/);
    // A complete import proposes a receipt file beside the tree.
    const out = screen.getByRole<HTMLInputElement>('textbox', { name: 'Receipt file' });
    expect(out.value).toBe(`${importDir()}.receipt.json`);
    await fireEvent.input(screen.getByRole('textbox', { name: /Site name/ }), { target: { value: 'dc1' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Write a receipt' }));
    const written = await screen.findByRole('status', { name: 'Receipt result' });
    expect(written.textContent).toMatch(new RegExp(`^Receipt \\d{8}T\\d{6}Z-[0-9a-f]{8} written to ${out.value}: [1-9]\\d* files`));
    expect(app.offline.receipt?.receipt.site).toBe('dc1');
  });

  it("History: the library's exports, the receipts and the export's audit log, each saved as JSON", async () => {
    app.go('history');
    await app.history.refresh();
    render(App, { app });
    const exports = screen.getByRole('table', { name: /exports ledger/ });
    expect(within(exports).getByText(exportOutcome.bundleId)).toBeTruthy();
    const receipts = screen.getByRole('table', { name: /Receipts written here/ });
    expect(within(receipts).getByText(`${importDir()}.receipt.json`).closest('tr')?.textContent).toMatch(/written.*\(site dc1\): [1-9]\d* files/);
    const audit = screen.getByRole('table', { name: new RegExp(`Bundle ${exportOutcome.bundleId}`) });
    const events = within(audit).getAllByRole('row').slice(1).map((row) => row.firstElementChild?.textContent);
    expect(events[0]).toBe('fetched');
    expect(events).toContain('verified');
    expect(events.at(-1)).toBe('exported');

    // "Save … as JSON" hands the browser a Blob to download; jsdom has no downloads, so the Blob is caught here.
    const saved: Blob[] = [];
    const { createObjectURL, revokeObjectURL } = URL;
    URL.createObjectURL = (blob: Blob) => { saved.push(blob); return 'blob:history'; };
    URL.revokeObjectURL = () => undefined;
    try {
      await fireEvent.click(screen.getByRole('button', { name: 'Save the audit log as JSON' }));
      await fireEvent.click(screen.getByRole('button', { name: 'Save exports as JSON' }));
    } finally {
      Object.assign(URL, { createObjectURL, revokeObjectURL });
    }
    const [auditJson, exportsJson] = await Promise.all(saved.map(blobText));
    expect((JSON.parse(auditJson ?? '{}') as { audit: Array<{ bundleId: string; entries: unknown[] }> }).audit[0]?.bundleId).toBe(exportOutcome.bundleId);
    expect((JSON.parse(exportsJson ?? '{}') as { exports: Array<{ bundleId: string; blobs: number }> }).exports).toEqual([expect.objectContaining({ bundleId: exportOutcome.bundleId, blobs: expect.any(Number) as number })]);
  });
});
