import type { ShardIteratorType } from '@aws-sdk/client-dynamodb-streams';
import { EventSourceConfigurationError } from '../errors.ts';
import { backoffDelay } from '../retry.ts';
import type { Stopper } from '../stopper.ts';
import { type CheckpointKeeper, newShardState, type ShardState } from './checkpoints.ts';
import type { StreamSettings } from './options.ts';
import type { ShardReader } from './shard-reader.ts';

/** How often the discovery loop considers describing the stream. */
const CHECK_EVERY_MS = 1_000;

/** How long, and how often, the first discovery describes a stream that is still `ENABLING`. */
const ENABLING_PATIENCE_MS = 60_000;
const ENABLING_POLL_MS = 100;

/**
 * Whether to describe the stream now. DescribeStream is costly on DynamoDB Local (it scans
 * the stream's records on its one SQLite thread, which every other call waits for), so it
 * runs only when a shard closed, while no shard is open, or every `intervalMs` as a safety
 * net; not every second.
 */
export function shouldDescribe(s: {
  shardClosed: boolean;
  anyOpen: boolean;
  sinceLastMs: number;
  intervalMs: number;
}): boolean {
  return s.shardClosed || !s.anyOpen || s.sinceLastMs >= s.intervalMs;
}

/** Shard discovery: finds the stream's shards and starts a worker for each new one. */
export class ShardDiscovery {
  /** Set when a shard closes: its children must be discovered. */
  #shardClosed = false;

  constructor(
    private readonly reader: ShardReader,
    private readonly keeper: CheckpointKeeper,
    private readonly settings: StreamSettings,
    private readonly startWorker: (shard: ShardState) => Promise<void>,
  ) {}

  /** A shard ended: look for its children at the next check. */
  shardClosed(): void {
    this.#shardClosed = true;
  }

  /**
   * Describes the stream and starts every shard not seen before. The first discovery waits while
   * the stream is `ENABLING`: a stream created with its table is not readable at once (LocalStack
   * refuses an iterator on it until its backing stream is active), and the mapping starts reading
   * only then, so that a start position of LATEST means after the mapping started.
   */
  async discover(initial: boolean): Promise<void> {
    const latest = initial && this.settings.startingPosition === 'LATEST';
    let { status, shards } = await this.reader.describe();
    const since = Date.now();
    while (initial && status === 'ENABLING') {
      if (Date.now() - since > ENABLING_PATIENCE_MS) {
        throw new EventSourceConfigurationError(
          `stream ${this.settings.streamArn} is still ENABLING after ${ENABLING_PATIENCE_MS} ms`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, ENABLING_POLL_MS));
      ({ status, shards } = await this.reader.describe());
    }
    for (const shard of shards) {
      const id = shard.ShardId;
      if (!id || this.keeper.has(id)) continue;
      const state = newShardState(id, shard.ParentShardId);
      this.keeper.add(state);
      if (latest && shard.SequenceNumberRange?.EndingSequenceNumber !== undefined) {
        // LATEST: nothing old is read; a shard already closed has nothing new.
        state.closed = true;
        this.keeper.finish(state);
        continue;
      }
      // Shards that appear later are read from their start, as Lambda does.
      const type: ShardIteratorType = latest ? 'LATEST' : 'TRIM_HORIZON';
      state.iterator = await this.reader.iterator(id, type);
      state.done = this.startWorker(state).catch((error: unknown) =>
        this.settings.log(`shard ${id} stopped: ${String(error)}`),
      );
    }
  }

  /** Looks for new shards until stopped. */
  async run(stopper: Stopper): Promise<void> {
    let failures = 0;
    let last = Date.now();
    while (!(await stopper.wait(CHECK_EVERY_MS))) {
      const due = shouldDescribe({
        shardClosed: this.#shardClosed,
        anyOpen: this.keeper.anyOpen(),
        sinceLastMs: Date.now() - last,
        intervalMs: this.settings.discoveryIntervalMs,
      });
      if (!due) continue;
      try {
        this.#shardClosed = false;
        last = Date.now();
        await this.discover(false);
        failures = 0;
      } catch (error) {
        failures++;
        this.#shardClosed = true;
        this.settings.log(`describe stream: ${String(error)}`);
        await stopper.wait(backoffDelay(failures, this.settings.backoff));
      }
    }
  }
}
