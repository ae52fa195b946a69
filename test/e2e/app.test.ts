import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, Page } from '@playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { KIB, MIB, makeKey, serveSignedStream, type ServedStream } from '../integration/mirror/helpers.js';
import { rawRequest } from '../support/ferry-serve.js';
import { mountSmallExt4, requireMount, unmount } from '../support/loop-disk.js';
import { runFerry } from '../support/run-ferry.js';
import { launchChromium } from './browser.js';
import { startFerryUi, type RunningUi } from './ferry-ui.js';

// Issue 10 §4: the operator's whole job by clicking, in Debian's Chromium, against `ferry ui` (the
// built CLI) and a signed fixture stream on loopback. Each screen is checked with axe-core and saved
// to docs/images/ for the README.

const IMAGES = resolve(import.meta.dirname, '../../docs/images');
const SMALL = { width: 1280, height: 800 };
const LARGE = { width: 1920, height: 1080 };

let workDir: string;
let served: ServedStream;
let ui: RunningUi;
let browser: Browser;
let exportDir: string;
let importDir: string;
/** The page the sync test leaves on its last screen, for the export error path that follows it. */
let syncedPage: Page | undefined;

async function seriousViolations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).analyze();
  return result.violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical').map((violation) => `${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(' ')).join(', ')})`);
}

/** Saves the screen and checks it for serious accessibility problems. */
async function capture(page: Page, name: string): Promise<void> {
  expect(await seriousViolations(page), `axe-core on ${name}`).toEqual([]);
  await page.screenshot({ path: join(IMAGES, `${name}.png`) });
}

/** A page in a context of its own (axe-core needs a context made by newContext). */
async function openApp(viewport: { width: number; height: number }, colorScheme: 'light' | 'dark'): Promise<Page> {
  const context = await browser.newContext({ viewport, colorScheme });
  const page = await context.newPage();
  page.once('close', () => void context.close());
  await page.goto(ui.url);
  return page;
}

async function goTo(page: Page, screen: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Steps' }).getByRole('button', { name: screen }).click();
  await page.getByRole('heading', { name: screen }).waitFor();
}

async function text(page: Page, role: 'status' | 'alert', name?: string): Promise<string> {
  const locator = name === undefined ? page.getByRole(role).first() : page.getByRole(role, { name });
  await locator.waitFor();
  return (await locator.textContent()) ?? '';
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ferry-e2e-'));
  await mkdir(IMAGES, { recursive: true });
  // The export goes to a folder the operator picked (it exists); the import creates its own.
  exportDir = join(workDir, 'export');
  importDir = join(workDir, 'imported');
  await mkdir(exportDir);
  served = await serveSignedStream(workDir, 'e2e', {
    contents: ['ubuntu', 'bootloaders'],
    releases: ['jammy', 'noble'],
    arches: ['amd64'],
    versions: 2,
    payloadSizes: { squashfs: 4 * MIB, 'boot-initrd': 256 * KIB, 'boot-kernel': 128 * KIB, manifest: 1 * KIB },
  });
  ui = await startFerryUi(['--library', join(workDir, 'library')]);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser.close();
  await ui.stop();
  await served.server.close();
  await rm(workDir, { recursive: true, force: true });
});

describe('the app in browser mode', () => {
  it('loads a custom signed source, selects jammy amd64 with bootloaders, plans, syncs with progress, pauses and resumes, exports, verifies and imports', async () => {
    // The first file of each squashfs stalls half-way, long enough to see progress and to pause.
    served.server.setFaults((request) => (request.path.endsWith('squashfs') && request.attempt === 1 ? { kind: 'stall', afterBytes: 1 * MIB, ms: 4_000 } : undefined));
    const page = await openApp(SMALL, 'light');

    await page.getByRole('radio', { name: /Custom URL/ }).check();
    await page.getByRole('textbox', { name: 'URL or folder' }).fill(served.source);
    await page.getByRole('textbox', { name: /Keyring files/ }).fill(served.testKey.keyringFile);
    await page.getByRole('button', { name: 'Load source' }).click();
    await page.getByRole('heading', { name: 'Catalog' }).waitFor();

    // The catalog: bootloaders are in by default; one click adds jammy amd64, as a filter line.
    expect(await page.getByRole('checkbox', { name: 'Include bootloaders' }).isChecked()).toBe(true);
    const jammy = page.getByRole('checkbox', { name: 'Select ubuntu jammy amd64' });
    await jammy.click();
    await expect.poll(() => jammy.isChecked()).toBe(true);
    const filterText = page.getByRole('textbox', { name: /Selection as sstream filters/ });
    await expect.poll(() => filterText.inputValue()).toBe('os~^(grub|pxelinux)\nos=ubuntu release=jammy arch=amd64');
    await expect.poll(async () => (await page.getByText(/products selected/).textContent()) ?? '').toMatch(/^[1-9]\d* of \d+ products selected/);
    await page.getByRole('textbox', { name: 'Save as profile' }).fill('site-a');
    await capture(page, 'catalog');

    await page.getByRole('button', { name: 'Review the plan' }).click();
    await page.getByRole('table', { name: 'Plan totals' }).waitFor();
    const toDownload = (await page.getByRole('row', { name: /To download/ }).textContent()) ?? '';
    expect(toDownload).toMatch(/To download\s*[1-9]/);
    await capture(page, 'plan');

    await page.getByRole('button', { name: /Start sync/ }).click();
    const overall = page.getByRole('progressbar', { name: 'Overall' });
    await overall.waitFor();
    await expect.poll(async () => Number(await overall.getAttribute('aria-valuenow')), { timeout: 20_000 }).toBeGreaterThan(0);
    await capture(page, 'sync');

    await page.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(() => text(page, 'status', 'Sync state'), { timeout: 20_000 }).toMatch(/^Paused/);
    served.server.setFaults(undefined);
    await page.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(() => text(page, 'status', 'Sync state'), { timeout: 60_000 }).toBe('Done');
    expect(await overall.getAttribute('aria-valuenow')).toBe('100');
    await page.getByText(/^Fetched \d+ files/).waitFor();

    // Export to a folder: the verdict (a dry run) first, then the export, each outcome on its own line.
    await goTo(page, 'Export');
    await page.getByRole('textbox', { name: 'Or a folder' }).fill(exportDir);
    await page.getByRole('button', { name: 'Check space' }).click();
    expect(await text(page, 'status', 'Verdict'), (await page.getByRole('alert').allTextContents()).join('\n')).toMatch(/^Fits: \d/);
    expect(await page.getByRole('img', { name: /for this export/ }).getAttribute('aria-label')).toMatch(/\d.* for this export, .*free after it/);
    await page.getByRole('button', { name: /^Export \d/ }).click();
    const outcome = page.getByRole('list', { name: 'Export outcome' });
    await outcome.waitFor({ timeout: 60_000 });
    const lines = await outcome.getByRole('listitem').allTextContents();
    expect(lines[0]).toMatch(/^Written: [1-9]\d* blobs/);
    expect(lines[1]).toMatch(/^\s*Verified: [1-9]\d* files .*all match/);
    expect(lines.at(-1)).toMatch(/^Ejected: /);
    await capture(page, 'export');

    // The air-gapped side: verify the bundle, import it into a folder, and the MAAS commands to run.
    await goTo(page, 'Offline');
    await page.getByRole('textbox', { name: 'Bundle folder' }).fill(exportDir);
    // The offline side's own keyring: empty means the bundled Ubuntu one, which did not sign this test stream.
    const offlineKeyring = page.getByRole('textbox', { name: /Keyring files for the bundle's signatures/ });
    expect(await offlineKeyring.inputValue()).toBe('');
    await offlineKeyring.fill(served.testKey.keyringFile);
    await page.getByRole('button', { name: 'Verify' }).click();
    expect(await text(page, 'status', 'Verify result')).toMatch(/^\s*Complete: every file is present\.\s+Valid: every hash matches\./);
    await page.getByRole('textbox', { name: 'Into folder' }).fill(importDir);
    await page.getByRole('button', { name: 'Import' }).click();
    expect(await text(page, 'status', 'Import result')).toMatch(/Imported into .*: [1-9]\d* files written/);
    const commands = await page.getByRole('list', { name: 'MAAS commands' }).locator('code').allTextContents();
    expect(commands[0]).toMatch(/^maas \S+ boot-sources create /);
    expect(commands.at(-1)).toMatch(/^maas \S+ boot-resources import/);
    expect(await page.getByText(/^ferry serve /).textContent()).toBe(`ferry serve ${importDir} --bind 0.0.0.0 --port 8080`);
    await capture(page, 'offline');

    // The CLI as judge: the bundle verifies, and the imported tree mirrors (signatures and hashes checked) with the same selection.
    const verified = await runFerry(['verify', '--keyring', served.testKey.keyringFile, exportDir]);
    expect(verified.code, verified.stderr).toBe(0);
    const mirrored = await runFerry(['mirror', '--max', '1', '--keyring', served.testKey.keyringFile, importDir, join(workDir, 'from-import'), 'os~^(grub|pxelinux)', '--or', 'os=ubuntu', 'release=jammy', 'arch=amd64']);
    expect(mirrored.code, mirrored.stderr).toBe(0);

    // The history, and the source's verification banner.
    for (const screen of ['History', 'Source'] as const) {
      await goTo(page, screen);
      if (screen === 'History') {
        await page.getByRole('cell', { name: 'export' }).first().waitFor();
        // The export is in the library's ledger and its audit log reads back from the bundle.
        const ledger = page.getByRole('table', { name: /exports ledger/ });
        await ledger.getByRole('row').nth(1).waitFor();
        expect(await ledger.getByRole('row').nth(1).textContent()).toMatch(/\d{8}T\d{6}Z-[0-9a-f]{8}.*[1-9]\d* files/);
        expect(await page.getByRole('table', { name: /^Bundle / }).first().getByRole('cell', { name: 'exported' }).count()).toBe(1);
      }
      if (screen === 'Source') expect(await text(page, 'status', 'Verification')).toContain('Verified');
      await capture(page, screen.toLowerCase());
    }

    // Loaded again, the catalog offers the selection the sync saved (profiles.list); a click puts it back in the form.
    await page.getByRole('button', { name: 'Load source' }).click();
    await page.getByRole('heading', { name: 'Catalog' }).waitFor();
    await filterText.fill('os=ubuntu');
    await page.getByRole('group', { name: 'Saved profiles' }).getByRole('button', { name: 'site-a' }).click();
    await expect.poll(() => filterText.inputValue()).toBe('os~^(grub|pxelinux)\nos=ubuntu release=jammy arch=amd64');
    syncedPage = page;
  }, 240_000);

  it('refuses an export to a target too small before writing anything', async (context) => {
    const page = syncedPage;
    expect(page, 'the page of the sync test').toBeDefined();
    if (page === undefined) return;
    const mounted = await mountSmallExt4(workDir, 'tiny', 4);
    try {
      const tiny = requireMount(mounted, context);
      await goTo(page, 'Export');
      await page.getByRole('textbox', { name: 'Or a folder' }).fill(tiny);
      await page.getByRole('button', { name: 'Check space' }).click();
      expect(await text(page, 'status', 'Verdict')).toBe('Does not fit: nothing was written.');
      expect(await text(page, 'alert')).toMatch(/FERRY_NOT_ENOUGH_SPACE/);
      expect(await page.getByRole('button', { name: /^Export \d/ }).count()).toBe(0);
      expect((await readdir(tiny)).filter((name) => name !== 'lost+found')).toEqual([]);
    } finally {
      await unmount(mounted);
      // The context, not only the page: its close must end before afterAll closes the browser.
      await page.context().close();
    }
  });

  it('reads at 1920x1080 in the dark colour scheme', async () => {
    const page = await openApp(LARGE, 'dark');
    const background = await page.evaluate('getComputedStyle(document.body).backgroundColor');
    expect(background).toBe('rgb(21, 24, 28)');
    await page.getByRole('heading', { name: 'Source' }).waitFor();
    await capture(page, 'source-dark-1920');
    await page.close();
  });

  it('says plainly what is wrong, and what to do, when the signature does not check out', async () => {
    const stranger = await makeKey(join(workDir, 'stranger'), 'stranger').catch(async () => {
      await mkdir(join(workDir, 'stranger'), { recursive: true });
      return makeKey(join(workDir, 'stranger'), 'stranger');
    });
    const page = await openApp(SMALL, 'light');
    await page.getByRole('radio', { name: /Custom URL/ }).check();
    await page.getByRole('textbox', { name: 'URL or folder' }).fill(served.source);
    await page.getByRole('textbox', { name: /Keyring files/ }).fill(stranger.keyringFile);
    await page.getByRole('button', { name: 'Load source' }).click();
    const alert = await text(page, 'alert');
    expect(alert).toMatch(/FERRY_SIG_/);
    expect(alert).toMatch(/What to do: \S+/);
    await capture(page, 'source-bad-signature');
    await page.close();
  });

  it('refuses requests and sockets without the token, or from a foreign Host or Origin', async () => {
    const url = new URL(ui.url);
    const tokenPath = url.pathname;
    expect((await rawRequest(ui.url, '/')).status).toBe(401);
    // A first segment of another length is no token at all (401); one of the token's length that differs is a wrong token (403).
    expect((await rawRequest(ui.url, '/not-the-token/')).status).toBe(401);
    const token = tokenPath.split('/')[1] ?? '';
    expect((await rawRequest(ui.url, `/${token.replace(/^./, token.startsWith('a') ? 'b' : 'a')}/`)).status).toBe(403);
    expect((await rawRequest(ui.url, tokenPath)).status).toBe(200);
    expect((await rawRequest(ui.url, tokenPath, { headers: { Host: 'attacker.example' } })).status).toBe(403);
    expect((await rawRequest(ui.url, tokenPath, { headers: { Origin: 'http://attacker.example' } })).status).toBe(403);

    const socketStatus = (path: string, headers: Record<string, string> = {}): Promise<number> =>
      new Promise((resolveStatus) => {
        const socket = new WebSocket(`ws://${url.host}${path}`, { headers });
        socket.once('open', () => { socket.close(); resolveStatus(101); });
        socket.once('unexpected-response', (_request, response) => { resolveStatus(response.statusCode ?? 0); });
        socket.once('error', () => undefined);
      });
    expect(await socketStatus(`${tokenPath}api`)).toBe(101);
    expect(await socketStatus('/api')).not.toBe(101);
    expect(await socketStatus(`${tokenPath}api`, { Origin: 'http://attacker.example' })).toBe(403);
    expect(await socketStatus(`${tokenPath}api`, { Host: 'attacker.example' })).toBe(403);
  });
});
