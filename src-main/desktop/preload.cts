// The preload of the app window: sandboxed, so it may require only 'electron' (not our modules),
// hence the channel names written out here; test/unit/desktop/policy.test.ts checks they match
// policy.ts. It asks the main process for the engine's MessagePort and hands it to the page with
// window.postMessage, the way Electron documents passing ports to a context-isolated page. It
// exposes nothing else: the page talks only over that port.
import { ipcRenderer } from 'electron';

ipcRenderer.on('ferry:port', (event) => {
  window.postMessage('ferry:engine-port', window.location.origin, [...event.ports]);
});
ipcRenderer.send('ferry:port-request');
