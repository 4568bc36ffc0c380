import type { DynamoDBRecord } from 'aws-lambda';

/** One shard as the emulator tracks it. */
export interface ShardState {
  readonly id: string;
  readonly parentId: string | undefined;
  /** The next GetRecords iterator; undefined once the shard is closed (or before it starts). */
  iterator: string | undefined;
  /** The last sequence number read, to resume after an expired iterator. */
  lastReadSequence: string | undefined;
  /** No more records will be read (the shard ended, or LATEST skipped it). */
  closed: boolean;
  /** Closed and every record read is done: its children may be read. */
  finished: boolean;
  /** Read but not yet delivered. */
  readonly buffer: DynamoDBRecord[];
  /** The shard's worker. */
  done: Promise<void>;
}

export function newShardState(id: string, parentId: string | undefined): ShardState {
  return {
    id,
    parentId,
    iterator: undefined,
    lastReadSequence: undefined,
    closed: false,
    finished: false,
    buffer: [],
    done: Promise.resolve(),
  };
}

/**
 * The checkpoint keeper: every shard known, the checkpoint (last sequence number done) of
 * each, and which shards are finished, which is what lets a child shard be read.
 * Checkpoints live in memory only: the local emulator starts over on restart.
 */
export class CheckpointKeeper {
  readonly #shards = new Map<string, ShardState>();
  readonly #checkpoints: Record<string, string> = {};
  #finished = 0;

  has(id: string): boolean {
    return this.#shards.has(id);
  }

  add(shard: ShardState): void {
    this.#shards.set(shard.id, shard);
  }

  all(): ShardState[] {
    return [...this.#shards.values()];
  }

  /** Some shard may still produce records (if none can, the stream must be described again). */
  anyOpen(): boolean {
    return this.all().some((s) => !s.closed);
  }

  /** Lineage: a child shard is read only after its parent is finished (a parent no longer listed is not waited for). */
  mayRead(shard: ShardState): boolean {
    const parent = shard.parentId ? this.#shards.get(shard.parentId) : undefined;
    return !parent || parent.finished;
  }

  /** Every record up to and including `record` is done. */
  advance(shard: ShardState, record: DynamoDBRecord): void {
    const sequence = record.dynamodb?.SequenceNumber;
    if (sequence) this.#checkpoints[shard.id] = sequence;
  }

  finish(shard: ShardState): void {
    shard.finished = true;
    this.#finished++;
  }

  get shardCount(): number {
    return this.#shards.size;
  }

  get finishedCount(): number {
    return this.#finished;
  }

  /** The checkpoint per shard; a copy. */
  snapshot(): Record<string, string> {
    return { ...this.#checkpoints };
  }
}
