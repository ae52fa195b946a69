import type { ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { collect, spawnFerry, type FerryRun } from './run-ferry.js';

// `ferry serve` as an operator runs it (the built CLI, its own process), for the serve tests and
// the bench; and a raw HTTP client that sends the request-target exactly as given, because
// fetch() and URL normalise `..` and `%2e%2e` away before a request leaves.

const START_TIMEOUT_MS = 20_000;

export interface ServingFerry {
  child: ChildProcess;
  /** The first line ferry printed: the boot-source URL, the mirror's base ending in '/'. */
  bootSourceUrl: string;
  /** The mirror base, ending in '/'. */
  baseUrl: string;
  /** Everything ferry printed on stdout while starting. */
  banner: string;
  /** Sends `signal` (default SIGTERM) and collects the run. */
  stop(signal?: NodeJS.Signals): Promise<FerryRun>;
}

export async function startFerryServe(args: readonly string[]): Promise<ServingFerry> {
  const child = spawnFerry(['serve', ...args]);
  const finished = collect(child, 120_000);
  const lines: string[] = [];
  const bootSourceUrl = await new Promise<string>((resolveUrl, rejectUrl) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rejectUrl(new Error(`ferry serve printed no URL within ${START_TIMEOUT_MS} ms`));
    }, START_TIMEOUT_MS);
    finished.then(
      (run) => {
        clearTimeout(timer);
        rejectUrl(new Error(`ferry serve exited before serving: exit ${String(run.code)}\n${run.stderr}`));
      },
      rejectUrl,
    );
    if (child.stdout === null) throw new Error('no stdout');
    const reader = createInterface({ input: child.stdout });
    reader.on('line', (line) => {
      lines.push(line);
      // The banner ends with the line that says how to stop.
      if (line.includes('Ctrl-C')) {
        clearTimeout(timer);
        reader.close();
        resolveUrl(lines[0] ?? '');
      }
    });
  });
  return {
    child,
    bootSourceUrl,
    baseUrl: bootSourceUrl,
    banner: lines.join('\n'),
    stop: (signal = 'SIGTERM') => {
      child.kill(signal);
      return finished;
    },
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request with the request-target sent byte for byte as `target` (which must start with '/'). */
export function rawRequest(baseUrl: string, target: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const base = new URL(baseUrl);
  return new Promise((resolveResponse, rejectResponse) => {
    const outgoing = request(
      { host: base.hostname, port: base.port, method: options.method ?? 'GET', path: target, headers: options.headers ?? {}, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          resolveResponse({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) });
        });
        response.on('error', rejectResponse);
      },
    );
    outgoing.on('error', rejectResponse);
    outgoing.end();
  });
}
