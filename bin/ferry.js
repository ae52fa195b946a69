#!/usr/bin/env node
// The CLI is written in TypeScript and compiled by `npm run build`; this shim only points at the output.
import { main } from '../dist/src-main/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
