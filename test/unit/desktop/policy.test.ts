// The Electron shell's security decisions, tested under Node (no Electron binary here): the
// window's options, the CSP, which URLs count as the app, which IPC senders are answered, which
// files the app scheme serves, and the taskbar and notification rules.
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, normalize, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { electronBinary } from '../../../src-main/desktop/electron-binary.js';
import {
  APP_URL,
  DESKTOP_CSP,
  endNotification,
  isAppUrl,
  isTrustedSender,
  PORT_DELIVERY_CHANNEL,
  PORT_REQUEST_CHANNEL,
  PORT_WINDOW_MESSAGE,
  rendererFileFor,
  taskbarProgress,
  windowOptions,
} from '../../../src-main/desktop/policy.js';
import { removeQuietly } from '../../integration/mirror/helpers.js';

const root = join(import.meta.dirname, '..', '..', '..');

describe('the desktop shell policy', () => {
  it('opens the window sandboxed and isolated, with no Node and no webview', () => {
    const { webPreferences } = windowOptions('/app/preload.cjs');
    expect(webPreferences).toMatchObject({ preload: '/app/preload.cjs', contextIsolation: true, sandbox: true, nodeIntegration: false, nodeIntegrationInWorker: false, nodeIntegrationInSubFrames: false, webviewTag: false, webSecurity: true, allowRunningInsecureContent: false });
  });

  it('sends a CSP with no inline or eval script, no frames, and nothing to connect to but itself', () => {
    const directives = new Map(DESKTOP_CSP.split('; ').map((directive) => [directive.split(' ')[0], directive]));
    expect(directives.get('default-src')).toBe("default-src 'none'");
    expect(directives.get('script-src')).toBe("script-src 'self'");
    expect(directives.get('connect-src')).toBe("connect-src 'self'");
    expect(directives.get('frame-ancestors')).toBe("frame-ancestors 'none'");
    expect(DESKTOP_CSP).not.toMatch(/unsafe-(inline|eval)/);
  });

  it('lets the window navigate only within the app', () => {
    expect(isAppUrl(APP_URL)).toBe(true);
    expect(isAppUrl('ferry://app/catalog')).toBe(true);
    for (const url of ['https://images.maas.io/', 'http://127.0.0.1:5240/', 'file:///etc/passwd', 'ferry://other/index.html', 'ferry://user:pw@app/', 'javascript:alert(1)', 'not a url']) {
      expect(isAppUrl(url), url).toBe(false);
    }
  });

  it('answers IPC only from the main frame of its own window showing the app', () => {
    expect(isTrustedSender({ url: APP_URL, parent: null }, true)).toBe(true);
    expect(isTrustedSender({ url: APP_URL, parent: null }, false)).toBe(false);
    expect(isTrustedSender({ url: APP_URL, parent: {} }, true)).toBe(false);
    expect(isTrustedSender({ url: 'https://evil.example/', parent: null }, true)).toBe(false);
    expect(isTrustedSender(null, true)).toBe(false);
  });

  it('serves files of the renderer folder only', () => {
    const dir = join(tmpdir(), 'renderer');
    const path = { join, normalize, sep };
    expect(rendererFileFor('ferry://app/', dir, path)).toBe(join(dir, 'index.html'));
    expect(rendererFileFor('ferry://app/assets/app.js', dir, path)).toBe(join(dir, 'assets', 'app.js'));
    expect(rendererFileFor('ferry://app/..%2F..%2Fetc%2Fpasswd', dir, path)).toBeUndefined();
    expect(rendererFileFor('ferry://app/%00', dir, path)).toBeUndefined();
    expect(rendererFileFor('file:///etc/passwd', dir, path)).toBeUndefined();
  });

  it('shows the running jobs’ bytes as taskbar progress, and notifies only about long jobs', () => {
    expect(taskbarProgress([])).toBe(-1);
    expect(taskbarProgress([{ bytesDone: 25, bytesTotal: 100 }, { bytesDone: 75, bytesTotal: 100 }])).toBe(0.5);
    expect(endNotification({ kind: 'sync', state: 'succeeded', durationMs: 5_000 })).toBeUndefined();
    expect(endNotification({ kind: 'sync', state: 'failed', durationMs: 60_000 })?.title).toBe('Stream Ferry: sync failed');
  });

  it('the preload, which may not import our modules, uses the channel names of the policy', async () => {
    const preload = await readFile(join(root, 'src-main', 'desktop', 'preload.cts'), 'utf8');
    for (const name of [PORT_REQUEST_CHANNEL, PORT_DELIVERY_CHANNEL, PORT_WINDOW_MESSAGE]) expect(preload).toContain(`'${name}'`);
    expect(preload).not.toMatch(/contextBridge|exposeInMainWorld/);
  });

  it('finds the Electron binary only where it was downloaded (npm start falls back to browser mode otherwise)', async () => {
    const fake = await mkdtemp(join(tmpdir(), 'ferry-electron-'));
    try {
      expect(electronBinary(fake)).toBeUndefined();
      await mkdir(join(fake, 'node_modules', 'electron', 'dist'), { recursive: true });
      await writeFile(join(fake, 'node_modules', 'electron', 'path.txt'), 'electron');
      expect(electronBinary(fake)).toBeUndefined();
      await writeFile(join(fake, 'node_modules', 'electron', 'dist', 'electron'), '');
      expect(electronBinary(fake)).toBe(join(fake, 'node_modules', 'electron', 'dist', 'electron'));
    } finally {
      await removeQuietly(fake);
    }
  });
});
