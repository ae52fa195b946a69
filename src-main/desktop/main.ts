// The Electron main process: one window, the engine in a utility process, and nothing else. Every
// decision it applies is a tested function of policy.ts; this file only wires them to Electron.

import { app, BrowserWindow, ipcMain, MessageChannelMain, net, Notification, protocol, session, utilityProcess, type BrowserWindowConstructorOptions } from 'electron';
import { dirname, join, normalize, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { rendererDir } from '../engine/install.js';
import {
  APP_SCHEME,
  APP_URL,
  DESKTOP_CSP,
  endNotification,
  isAppUrl,
  isTrustedSender,
  PORT_DELIVERY_CHANNEL,
  PORT_REQUEST_CHANNEL,
  rendererFileFor,
  taskbarProgress,
  windowOptions,
} from './policy.js';
import type { ShellMessage } from './shell-messages.js';

const here = dirname(fileURLToPath(import.meta.url));

// Registered before ready: a standard, secure scheme gives the app its own origin (not file://).
protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

if (!app.requestSingleInstanceLock()) {
  // Another instance holds the engine and its jobs; it shows its window (second-instance below).
  app.quit();
} else {
  void app.whenReady().then(start);
}

function start(): void {
  const renderer = rendererDir();
  protocol.handle(APP_SCHEME, async (request) => {
    const file = rendererFileFor(request.url, renderer, { join, normalize, sep });
    if (file === undefined) return new Response('Not found', { status: 404 });
    const response = await net.fetch(pathToFileURL(file).toString());
    const headers = new Headers(response.headers);
    headers.set('Content-Security-Policy', DESKTOP_CSP);
    headers.set('X-Content-Type-Options', 'nosniff');
    return new Response(response.body, { status: response.status, headers });
  });
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => {
    callback(false);
  });
  session.defaultSession.setPermissionCheckHandler(() => false);

  const engine = utilityProcess.fork(join(here, 'engine-process.js'), [], { serviceName: 'Stream Ferry engine' });
  const options: BrowserWindowConstructorOptions = windowOptions(join(here, 'preload.cjs'));
  const window = new BrowserWindow(options);
  window.once('ready-to-show', () => {
    window.show();
  });
  void window.loadURL(APP_URL);

  ipcMain.on(PORT_REQUEST_CHANNEL, (event) => {
    if (!isTrustedSender(event.senderFrame, event.sender === window.webContents)) return;
    // A new connection of the engine per page load; the old port's connection ends with its page.
    const { port1, port2 } = new MessageChannelMain();
    engine.postMessage(null, [port1]);
    event.sender.postMessage(PORT_DELIVERY_CHANNEL, null, [port2]);
  });

  const running = new Map<string, { bytesDone: number; bytesTotal: number }>();
  engine.on('message', (message: ShellMessage) => {
    if (message.type === 'progress') running.set(message.jobId, message);
    else {
      running.delete(message.jobId);
      const notification = endNotification(message);
      if (notification !== undefined && Notification.isSupported() && !window.isFocused()) new Notification(notification).show();
    }
    if (!window.isDestroyed()) window.setProgressBar(taskbarProgress([...running.values()]));
  });

  app.on('second-instance', () => {
    if (window.isMinimized()) window.restore();
    window.focus();
  });
  app.on('window-all-closed', () => {
    // The engine pauses its running jobs on SIGTERM, so they resume when the app starts again.
    engine.kill();
    app.quit();
  });
}

// Every web contents, present and future: no navigation away from the app, no new windows, no webviews.
app.on('web-contents-created', (_event, contents) => {
  contents.on('will-navigate', (event) => {
    if (!isAppUrl(event.url)) event.preventDefault();
  });
  contents.on('will-redirect', (event) => {
    if (!isAppUrl(event.url)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
  });
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
});
