import { spawn } from 'node:child_process';

/**
 * Opens `url` in the default browser, as the platform's own opener does (xdg-open, open, or
 * cmd's start); answers false when no opener could be started, so the caller says to open it by
 * hand. Never waits for the browser.
 */
export function openBrowser(url: string, platform: NodeJS.Platform = process.platform): Promise<boolean> {
  // start's first quoted argument is the window title, hence the empty "".
  const [command, args] = platform === 'darwin' ? ['open', [url]] : platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]];
  return new Promise((resolve) => {
    const child = spawn(command, args, { detached: true, stdio: 'ignore', windowsHide: true });
    child.once('error', () => {
      resolve(false);
    });
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}
