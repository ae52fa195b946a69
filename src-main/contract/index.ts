// The API contract: what the renderer imports (schemas, types, the client and its transports). No
// Node built-ins anywhere in this folder (the lint table enforces it), so Vite bundles it as is.
export * from './inputs.js';
export * from './outputs.js';
export * from './calls.js';
export * from './records.js';
export * from './history-calls.js';
export * from './protocol.js';
export * from './client.js';
export * from './transports.js';
export * from './csp.js';
