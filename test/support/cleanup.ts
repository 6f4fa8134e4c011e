/**
 * Bounded cleanup for tests: the child processes a test file started, and its scratch folders.
 *
 * A test that times out or fails half way can leave a child running (a `floe run`, a writer
 * racing another one), still writing into the folder its file's afterAll or afterEach removes.
 * The hooks end those children first, wait for their exit, then remove the folder with retries,
 * all without blocking the event loop, so a loaded machine cannot push them past the hook timeout.
 */
import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';

const running = new Set<ChildProcess>();

/** Remembers a child process until it exits, so that `stopChildren` can end it. */
export function track<C extends ChildProcess>(child: C): C {
  if (child.exitCode === null && child.signalCode === null) {
    running.add(child);
    child.once('exit', () => running.delete(child));
  }
  return child;
}

/**
 * Kills every tracked child that is still running with SIGKILL and waits for each to exit,
 * at most `waitMs` per child (a process stuck in uninterruptible I/O is left to the OS).
 */
export async function stopChildren(waitMs = 10_000): Promise<void> {
  const children = [...running];
  running.clear();
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) {
            resolve();
            return;
          }
          const timer = setTimeout(resolve, waitMs);
          timer.unref();
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGKILL');
        }),
    ),
  );
}

/** Ends the tracked children, then removes `dir` and everything in it (retrying on EBUSY/ENOTEMPTY). */
export async function removeScratch(dir: string | undefined): Promise<void> {
  await stopChildren();
  if (dir === undefined) return;
  await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}
