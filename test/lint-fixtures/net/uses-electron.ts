// Must fail: only desktop/ may use electron.
import { app } from 'electron';

export const application = app;
