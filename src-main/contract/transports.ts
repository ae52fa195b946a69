// The two transports of the client, written against the browser's WebSocket and MessagePort
// interfaces (the `ws` package's WebSocket and node:worker_threads' MessagePort offer the same
// ones, so the contract tests drive these very functions under Node).

import type { Transport } from './client.js';
import { SOCKET_PATH, type ServerMessage } from './protocol.js';

/** What the transport needs of a WebSocket (browser WebSocket, or `ws`'s). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'error', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
}

/** What the transport needs of a MessagePort (DOM, or node:worker_threads). */
export interface MessagePortLike {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  start(): void;
  close(): void;
}

const OPEN = 1;

/**
 * The WebSocket URL of browser mode for the page at `pageUrl` (`http://127.0.0.1:PORT/<token>/`,
 * or any page below it): `ws://127.0.0.1:PORT/<token>/api`.
 */
export function socketUrl(pageUrl: string): string {
  const page = new URL(pageUrl);
  const base = new URL(page.pathname.split('/').slice(0, 2).join('/') + '/', page);
  const url = new URL(SOCKET_PATH, base);
  url.protocol = page.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/**
 * A transport over an open WebSocket, one JSON text frame per message. Resolves once the socket
 * is open; rejects if it closes first (a refused token or Origin ends the handshake).
 */
export function webSocketTransport(socket: WebSocketLike): Promise<Transport> {
  return new Promise((resolve, reject) => {
    let closedListener: ((reason: string) => void) | undefined;
    let receiver: ((message: ServerMessage) => void) | undefined;
    let opened = socket.readyState === OPEN;
    socket.addEventListener('message', (event) => {
      if (typeof event.data === 'string') receiver?.(JSON.parse(event.data) as ServerMessage);
    });
    socket.addEventListener('close', (event) => {
      const reason = event.reason === '' ? `closed (${event.code})` : event.reason;
      if (!opened) reject(new Error(`The engine refused the connection: ${reason}`));
      closedListener?.(reason);
    });
    socket.addEventListener('error', () => undefined);
    const transport: Transport = {
      send: (message) => {
        socket.send(JSON.stringify(message));
      },
      receive: (listener) => {
        receiver = listener;
      },
      closed: (listener) => {
        closedListener = listener;
      },
      close: () => {
        socket.close(1000, 'closed by the client');
      },
    };
    if (opened) resolve(transport);
    else
      socket.addEventListener('open', () => {
        opened = true;
        resolve(transport);
      });
  });
}

/**
 * A transport over a MessagePort whose other end the engine holds (the Electron shell hands one to
 * the renderer). Messages are posted as they are. A port has no close event, so the engine sends
 * nothing to say goodbye; `close()` closes this end.
 */
export function messagePortTransport(port: MessagePortLike): Transport {
  let closedListener: ((reason: string) => void) | undefined;
  let receiver: ((message: ServerMessage) => void) | undefined;
  port.addEventListener('message', (event) => {
    receiver?.(event.data as ServerMessage);
  });
  port.start();
  return {
    send: (message) => {
      port.postMessage(message);
    },
    receive: (listener) => {
      receiver = listener;
    },
    closed: (listener) => {
      closedListener = listener;
    },
    close: () => {
      port.close();
      closedListener?.('closed by the client');
    },
  };
}
