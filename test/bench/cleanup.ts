import type { ChildProcess } from 'node:child_process';

// A benchmark spawns servers and ferry runs and writes gigabytes under /tmp. All of it must go
// when the bench ends, fails or is interrupted, so every child and every scratch directory is
// registered here as soon as it exists, and `run` undoes them (children first, so nothing still
// writes into a directory being removed).

const CHILD_EXIT_GRACE_MS = 5_000;

export class Cleanup {
  readonly #children = new Set<ChildProcess>();
  readonly #actions: Array<() => Promise<void>> = [];
  #running: Promise<void> | undefined;

  /** Stops the child on cleanup unless it has exited by then. */
  track<Child extends ChildProcess>(child: Child): Child {
    if (child.exitCode === null && child.signalCode === null) {
      this.#children.add(child);
      child.once('exit', () => this.#children.delete(child));
    }
    return child;
  }

  /** Runs `action` on cleanup, after the children are gone; the last registered runs first. */
  defer(action: () => Promise<void>): void {
    this.#actions.push(action);
  }

  /** Idempotent: a signal arriving while the normal end is cleaning up waits for the same work. */
  run(): Promise<void> {
    this.#running ??= this.#runOnce();
    return this.#running;
  }

  async #runOnce(): Promise<void> {
    await Promise.all([...this.#children].map(stopChild));
    for (const action of this.#actions.reverse()) {
      try {
        await action();
      } catch (error) {
        // One failed removal must not keep the others from running.
        process.stderr.write(`bench cleanup: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    }
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStopped) => {
    const forceTimer = setTimeout(() => {
      child.kill('SIGKILL');
    }, CHILD_EXIT_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(forceTimer);
      resolveStopped();
    });
    child.kill('SIGTERM');
  });
}
