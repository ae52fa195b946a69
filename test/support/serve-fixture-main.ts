import { fstatSync } from 'node:fs';
import { startFixtureServer } from './fixture-server.js';

// Serves a directory from a separate process, so a benchmark's client and server do not share an
// event loop:
//   node dist/test/support/serve-fixture-main.js <dir>
// prints one line {"url":"http://127.0.0.1:PORT/"} and serves until SIGTERM or SIGINT, or until its
// stdin closes when stdin is a pipe (so the server dies with a parent that forgets to stop it).

const [root] = process.argv.slice(2);
if (root === undefined) {
  process.stderr.write('usage: node serve-fixture-main.js <dir>\n');
  process.exitCode = 2;
} else {
  const server = await startFixtureServer({ root });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    process.stdin.pause();
    server.close().catch((error: unknown) => {
      process.stderr.write(`serve-fixture-main: ${String(error)}\n`);
      process.exitCode = 1;
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  if (stdinIsPipe()) {
    process.stdin.once('end', stop).once('close', stop).resume();
  }
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
}

function stdinIsPipe(): boolean {
  try {
    const stdin = fstatSync(0);
    return stdin.isFIFO() || stdin.isSocket();
  } catch {
    return false;
  }
}
