// The two ways a client reaches the engine, for the one contract suite: browser mode's WebSocket
// (a real server on 127.0.0.1, the `ws` client) and the Electron shell's MessagePort (a
// node:worker_threads MessageChannel, the engine's end served by attachPort exactly as the
// utility process serves it). Both hand out the renderer's own client (src-main/contract/).
import { MessageChannel } from 'node:worker_threads';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { createClient, messagePortTransport, socketUrl, webSocketTransport, type FerryClient } from '../../src-main/contract/index.js';
import { attachPort, type ApiService } from '../../src-main/engine/index.js';
import { startUiServer, type UiServer } from '../../src-main/web/server.js';

export interface TransportUnderTest {
  name: string;
  /** Prepares the transport for `service` (starts a server, if it needs one). */
  start(service: ApiService): Promise<void>;
  /** A new client connection, like a window or tab opening. */
  connect(): Promise<FerryClient>;
  stop(): Promise<void>;
}

export function webSocketUnderTest(): TransportUnderTest & { server: () => UiServer } {
  let server: UiServer | undefined;
  let rendererDir = '';
  const must = (): UiServer => {
    if (server === undefined) throw new Error('start() first');
    return server;
  };
  return {
    name: 'WebSocket (browser mode)',
    server: must,
    async start(service) {
      rendererDir = await mkdtemp(join(tmpdir(), 'ferry-renderer-'));
      server = await startUiServer({ service, rendererDir });
    },
    async connect() {
      return createClient(await webSocketTransport(new WebSocket(socketUrl(must().url))));
    },
    async stop() {
      await server?.close();
    },
  };
}

export function messagePortUnderTest(): TransportUnderTest {
  let service: ApiService | undefined;
  const channels: MessageChannel[] = [];
  return {
    name: 'MessagePort (Electron shell)',
    start(started) {
      service = started;
      return Promise.resolve();
    },
    connect() {
      if (service === undefined) throw new Error('start() first');
      const channel = new MessageChannel();
      channels.push(channel);
      const enginePort = channel.port1;
      attachPort(service, {
        post: (message) => {
          enginePort.postMessage(message);
        },
        listen: (listener) => {
          enginePort.on('message', listener);
        },
        onClose: (listener) => {
          enginePort.on('close', listener);
        },
        start: () => {
          enginePort.start();
        },
      });
      return Promise.resolve(createClient(messagePortTransport(channel.port2)));
    },
    stop() {
      for (const channel of channels) {
        channel.port1.close();
        channel.port2.close();
      }
      return Promise.resolve();
    },
  };
}
