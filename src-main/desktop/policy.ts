// The desktop shell's security decisions as plain functions, so they are tested under Node (no
// Electron binary can be fetched on our machines) and main.ts only wires them to Electron's events.
// Electron's security checklist (electronjs.org/docs/latest/tutorial/security) is the source:
// contextIsolation, sandbox, no nodeIntegration, a CSP, navigation / new windows / webview /
// permissions refused, IPC senders validated. No import of 'electron' here: main.ts checks these
// shapes against Electron's own types (tsconfig.desktop.json).

import { DESKTOP_PORT_MESSAGE, rendererContentSecurityPolicy } from '../contract/index.js';

/** The scheme and host the renderer is served from (protocol.handle in main.ts): a standard, secure origin of our own. */
export const APP_SCHEME = 'ferry';
export const APP_HOST = 'app';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_URL = `${APP_ORIGIN}/index.html`;

/** The IPC channel the preload asks for the engine's port on, and the window message that hands it to the page. */
export const PORT_REQUEST_CHANNEL = 'ferry:port-request';
export const PORT_DELIVERY_CHANNEL = 'ferry:port';
export const PORT_WINDOW_MESSAGE = DESKTOP_PORT_MESSAGE;

/** The CSP of every renderer response: the contract's, nothing to connect to (the engine is a MessagePort). */
export const DESKTOP_CSP = rendererContentSecurityPolicy();

/** BrowserWindow options: the renderer gets no Node, runs sandboxed and isolated from the preload. */
export function windowOptions(preloadPath: string): {
  width: number;
  height: number;
  minWidth: number;
  minHeight: number;
  show: boolean;
  title: string;
  webPreferences: {
    preload: string;
    contextIsolation: true;
    sandbox: true;
    nodeIntegration: false;
    nodeIntegrationInWorker: false;
    nodeIntegrationInSubFrames: false;
    webSecurity: true;
    allowRunningInsecureContent: false;
    webviewTag: false;
    navigateOnDragDrop: false;
    spellcheck: false;
  };
} {
  return {
    width: 1280,
    height: 800,
    minWidth: 960,
    minHeight: 640,
    // Shown on ready-to-show, so the window never flashes white.
    show: false,
    title: 'Stream Ferry',
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
    },
  };
}

/** Whether `url` is a page of the app itself: the only place the window may navigate (a reload, a screen). */
export function isAppUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === `${APP_SCHEME}:` && parsed.host === APP_HOST && parsed.username === '' && parsed.password === '';
  } catch {
    return false;
  }
}

/**
 * Whether an IPC message may be answered: it must come from the main frame of our one window,
 * showing an app page. `frame` is the sender's frame (event.senderFrame), null once it is gone.
 */
export function isTrustedSender(frame: { url: string; parent: unknown } | null, fromOurWindow: boolean): boolean {
  return fromOurWindow && frame !== null && frame.parent === null && isAppUrl(frame.url);
}

/**
 * The file under `rendererDir` an app URL names, or undefined for a URL that is not the app's or
 * leaves the folder. `join` and `sep` are the platform's (node:path), passed in to keep this pure.
 */
export function rendererFileFor(url: string, rendererDir: string, path: { join: (...parts: string[]) => string; normalize: (path: string) => string; sep: string }): string | undefined {
  if (!isAppUrl(url)) return undefined;
  let relative: string;
  try {
    relative = decodeURIComponent(new URL(url).pathname);
  } catch {
    return undefined;
  }
  if (relative.includes('\0')) return undefined;
  const root = path.normalize(rendererDir);
  const file = path.normalize(path.join(root, relative === '/' ? 'index.html' : relative));
  return file.startsWith(root + path.sep) ? file : undefined;
}

/** Taskbar / dock progress for the running jobs: their bytes together as a fraction, or -1 (none) when no job is counting bytes. */
export function taskbarProgress(jobs: ReadonlyArray<{ bytesDone: number; bytesTotal: number }>): number {
  const total = jobs.reduce((sum, job) => sum + job.bytesTotal, 0);
  if (total <= 0) return -1;
  return Math.min(1, jobs.reduce((sum, job) => sum + job.bytesDone, 0) / total);
}

/** A job that ran at least this long tells the operator it ended with a notification (they have likely looked away). */
export const NOTIFY_AFTER_MS = 30_000;

/** The notification for a job that ended, or undefined for one short enough to have been watched. */
export function endNotification(job: { kind: string; state: string; durationMs: number }): { title: string; body: string } | undefined {
  if (job.durationMs < NOTIFY_AFTER_MS) return undefined;
  const outcome = { succeeded: 'finished', failed: 'failed', cancelled: 'was cancelled', paused: 'was paused' }[job.state] ?? job.state;
  return { title: `Stream Ferry: ${job.kind} ${outcome}`, body: job.state === 'failed' ? 'Open Stream Ferry to see what went wrong and what to do.' : 'Open Stream Ferry for the details.' };
}
