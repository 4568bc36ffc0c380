import { EventSourceStoppedError } from '../errors.ts';

/** A partition as the offset keeper sees it. */
export interface PartitionRef {
  readonly topic: string;
  readonly partition: number;
  readonly revoked: boolean;
}

/** Commits one partition's offset for the consumer group (kafkajs `commitOffsets`). */
export type CommitOffset = (topic: string, partition: number, offset: string) => Promise<void>;

/**
 * The offset keeper: commits the consumer group's offset (the next record to read) after
 * records are done, and remembers the last committed offset per partition.
 */
export class OffsetKeeper {
  readonly #committed: Record<string, number> = {};

  constructor(
    private readonly commitOffset: CommitOffset,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * Commits `nextOffset`. A revoked partition belongs to another consumer now: nothing
   * more is committed for it here, and the batch's delivery stops (EventSourceStoppedError).
   */
  async commit(partition: PartitionRef, nextOffset: number): Promise<void> {
    const id = `${partition.topic}-${partition.partition}`;
    if (partition.revoked) throw new EventSourceStoppedError(`partition ${id} revoked`);
    try {
      await this.commitOffset(partition.topic, partition.partition, String(nextOffset));
      this.#committed[id] = nextOffset;
    } catch (error) {
      // A later commit covers this one; the records stay delivered (at-least-once).
      this.log(`commit ${id}@${nextOffset} failed: ${String(error)}`);
    }
  }

  /**
   * Commits `nextOffset` unless it is already the committed one: a batch whose last records
   * were filtered out is committed past them too, but a delivered batch is not committed twice.
   */
  async commitThrough(partition: PartitionRef, nextOffset: number): Promise<void> {
    if (this.#committed[`${partition.topic}-${partition.partition}`] !== nextOffset) {
      await this.commit(partition, nextOffset);
    }
  }

  /** Last committed offset (next to read) per `"<topic>-<partition>"`; a copy. */
  snapshot(): Record<string, number> {
    return { ...this.#committed };
  }
}
