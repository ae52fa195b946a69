// Browser mode's entry: connect to the engine that served this page over its WebSocket (the token
// is in the page's URL), then draw the app; a tab opened while a sync runs follows that sync.
import { mount } from 'svelte';
import { createClient, socketUrl, webSocketTransport } from '../src-main/contract/index.js';
import App from './App.svelte';
import './app.css';
import { fromContract } from './lib/client.js';
import { AppState } from './lib/state/app.svelte.js';

const transport = await webSocketTransport(new WebSocket(socketUrl(location.href)));
const app = new AppState(fromContract(createClient(transport)));
const query = new URLSearchParams(location.search);
app.source.prefill(query);
app.offline.prefill(query);
mount(App, { target: document.getElementById('app') ?? document.body, props: { app } });
await app.reattach();
