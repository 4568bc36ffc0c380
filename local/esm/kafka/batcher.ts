import type { Stopper } from '../stopper.ts';

/** What the batcher needs of a fetched message: its offset (kafkajs gives it as a string). */
export interface Offsetted {
  readonly offset: string;
}

export interface BatchLimits {
  batchSize: number;
  /** MaximumBatchingWindowInSeconds in ms, counted from the first buffered record. */
  windowMs: number;
  /** Fetching pauses at this many buffered records and resumes below half of it. */
  highWater: number;
}

/** Pauses and resumes the poller's fetching of this partition (back-pressure). */
export interface FlowControl {
  pause(): void;
  resume(): void;
}

/** How long an empty buffer waits before checking again for a stop or a revocation it missed. */
const IDLE_WAIT_MS = 1_000;

/**
 * The batcher of one partition: buffers what the poller fetched and hands out a batch
 * when BatchSize records are there or the batching window since the first one is over.
 * The buffer is bounded: the poller is paused at `highWater` records, so a partition
 * whose batch is being retried does not pull its whole backlog into memory.
 */
export class PartitionBatcher<M extends Offsetted> {
  readonly #buffer: M[] = [];
  /** Next offset expected; earlier ones (refetched after a rebalance) are skipped. */
  #nextOffset: bigint | undefined;
  #firstArrivalMs = 0;
  #paused = false;
  #revoked = false;
  #wake: (() => void) | undefined;

  constructor(
    readonly topic: string,
    readonly partition: number,
    private readonly limits: BatchLimits,
    private readonly flow: FlowControl,
    private readonly stopper: Stopper,
  ) {}

  get id(): string {
    return `${this.topic}-${this.partition}`;
  }

  get revoked(): boolean {
    return this.#revoked;
  }

  get size(): number {
    return this.#buffer.length;
  }

  /** Adds messages the poller fetched, in offset order. */
  push(messages: readonly M[]): void {
    if (this.#revoked) return;
    const wasEmpty = this.#buffer.length === 0;
    for (const message of messages) {
      const offset = BigInt(message.offset);
      if (this.#nextOffset !== undefined && offset < this.#nextOffset) continue;
      this.#buffer.push(message);
      this.#nextOffset = offset + 1n;
    }
    if (wasEmpty && this.#buffer.length > 0) this.#firstArrivalMs = Date.now();
    if (this.#buffer.length >= this.limits.highWater && !this.#paused) {
      this.#paused = true;
      this.flow.pause();
    }
    this.#wake?.();
  }

  /** The partition went to another consumer: its buffered records are dropped, `next` returns undefined. */
  revoke(): void {
    this.#revoked = true;
    this.#buffer.length = 0;
    this.#wake?.();
  }

  /** Wakes a waiting `next` (on stop). */
  wake(): void {
    this.#wake?.();
  }

  /** The next batch, once full or its window is over; undefined when stopped or revoked. */
  async next(): Promise<M[] | undefined> {
    const over = () => this.stopper.stopped || this.#revoked;
    while (!over()) {
      if (this.#buffer.length === 0) {
        await this.#waitForData(IDLE_WAIT_MS);
        continue;
      }
      while (this.#buffer.length < this.limits.batchSize && !over()) {
        const left = this.#firstArrivalMs + this.limits.windowMs - Date.now();
        if (left <= 0) break;
        await this.#waitForData(left);
      }
      if (over()) break;
      return this.#take();
    }
    return undefined;
  }

  #take(): M[] {
    const taken = this.#buffer.splice(0, this.limits.batchSize);
    // The records left over start the next batch's window now.
    if (this.#buffer.length > 0) this.#firstArrivalMs = Date.now();
    if (
      this.#paused &&
      this.#buffer.length < this.limits.highWater / 2 &&
      !this.stopper.stopped &&
      !this.#revoked
    ) {
      this.#paused = false;
      this.flow.resume();
    }
    return taken;
  }

  /** Waits `ms`, or until new records, a revocation or a stop wake it. */
  #waitForData(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        // The stopper's timer of an earlier wait fires late: it must not clear a newer wait's wake-up.
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      timer = setTimeout(done, ms);
      void this.stopper.wait(ms).then(done);
      this.#wake = done;
    });
  }
}
