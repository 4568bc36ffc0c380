import { EventSourceStoppedError } from './errors.ts';

/**
 * The stop signal every loop of an emulator waits on, so that `stop()` interrupts
 * backoffs, batching windows and idle polls at once instead of after their timers.
 */
export class Stopper {
  #stopped = false;
  readonly #waiters = new Set<() => void>();

  get stopped(): boolean {
    return this.#stopped;
  }

  stop(): void {
    this.#stopped = true;
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  /** Resolves after `ms`, or early (without error) on stop; returns whether it was stopped. */
  async wait(ms: number): Promise<boolean> {
    if (this.#stopped) return true;
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#waiters.add(wake);
    });
    return this.#stopped;
  }

  /** Like `wait`, but a stop rejects with EventSourceStoppedError (for deliverBatch's backoff). */
  async sleep(ms: number): Promise<void> {
    if (await this.wait(ms)) throw new EventSourceStoppedError('event source stopped');
  }
}

/** Waits for every worker to finish, but no longer than `ms`: an invocation in flight cannot be cut short. */
export async function settle(workers: Iterable<Promise<void>>, ms = 15_000): Promise<void> {
  await Promise.race([Promise.all(workers), new Promise((r) => setTimeout(r, ms).unref())]);
}
