// An HTTP error answer as its own module so that retry.ts can recognise it without importing
// http.ts, which needs the HttpClient of agent.ts, which needs retry.ts: no import cycle.

import { FerryError, redactUrl } from '../base/errors.js';

/** An HTTP error answer; `retryAfterMs` carries the server's Retry-After for the retry loop. */
export class HttpStatusError extends FerryError {
  readonly retryAfterMs: number | undefined;

  constructor(url: string, status: number, retryAfterMs: number | undefined) {
    super('FERRY_HTTP_STATUS', `${redactUrl(url)}: the server answered HTTP ${status}`, {
      url,
      status,
      hint: hintForStatus(status),
    });
    this.retryAfterMs = retryAfterMs;
  }
}

function hintForStatus(status: number): string {
  if (status === 404 || status === 410) {
    return 'The file is not on the server. Check the source URL; if it is right, the mirror may be in the middle of an update, so try again later.';
  }
  if (status === 401 || status === 403) return 'The server refused access. Check the credentials in the source URL.';
  if (status === 407) return 'The proxy wants credentials: give them as http://user:password@proxy:port.';
  if (status === 429 || status >= 500) return 'The server is overloaded or failing; it was retried with backoff. Try again later.';
  return 'The server did not accept the request for this file.';
}
