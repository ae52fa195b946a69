// Browser mode's entry: connect to the engine that served this page (the token rides in the page
// URL), then draw the app. A tab opened while a sync runs picks the sync up again.
import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';
import { AppState } from './lib/state/app.svelte.js';

mount(App, { target: document.getElementById('app') ?? document.body, props: { app: new AppState(await connect()) } });
