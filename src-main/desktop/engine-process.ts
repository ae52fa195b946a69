// The engine in Electron's utility process (utilityProcess.fork in main.ts), off the main thread so
// the window never freezes. The main process hands it one MessagePort per window; each port is one
// connection of the API service, the same protocol the WebSocket carries in browser mode. What the
// main process needs for the taskbar and notifications goes up through parentPort.

import { attachPort, createApiService, isOutcomeEvent, type JobEvent } from '../engine/index.js';
import type { ShellMessage } from './shell-messages.js';

const { parentPort } = process;

const service = await createApiService({
  observe: (event: JobEvent, job) => {
    if (event.type === 'progress') {
      const message: ShellMessage = { type: 'progress', jobId: event.jobId, bytesDone: event.progress.bytesDone, bytesTotal: event.progress.bytesTotal };
      parentPort.postMessage(message);
    } else if (isOutcomeEvent(event)) {
      const state = event.type === 'result' ? 'succeeded' : event.type;
      const message: ShellMessage = { type: 'ended', jobId: event.jobId, kind: job.kind, state, durationMs: Date.now() - Date.parse(job.startedAt) };
      parentPort.postMessage(message);
    }
  },
});

parentPort.on('message', (message) => {
  const [port] = message.ports;
  if (port === undefined) return;
  attachPort(service, {
    post: (reply) => {
      port.postMessage(reply);
    },
    listen: (listener) => {
      port.on('message', (event) => {
        listener(event.data);
      });
    },
    onClose: (listener) => {
      port.on('close', listener);
    },
    start: () => {
      port.start();
    },
  });
});

// The main process ends this process when the app quits; running jobs are paused first so they resume.
process.on('SIGTERM', () => {
  void service.close().finally(() => process.exit(0));
});
