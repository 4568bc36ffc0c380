/**
 * The client's one Kafka consumer, shared by every wait.
 *
 * It reads every outcome topic the client's waits need, each from a point in
 * time early enough that no awaited outcome can be missed, and hands outcomes
 * to the waits or to a bounded buffer. All changes to the consumer (start,
 * a new topic, a rewind, close) run one after another.
 */
import type { Admin, Consumer, IHeaders, Kafka } from 'kafkajs';
import { type OutcomeVerifyingKeys, verifyOutcome } from '../functions/core/signing.ts';
import { ClientClosedError } from './errors.ts';
import { BoundedLru } from './lru.ts';
import { type Outcome, parseOutcome } from './outcome.ts';

export interface ListenerOptions {
  kafka: Kafka;
  /** Consumer group id, unique to this client instance; deleted on close. */
  groupId: string;
  /** Bounds of each of the two buffers (the client's own groups; all others). */
  maxBufferedOutcomes: number;
  maxBufferedBytes: number;
  /** How many groups created by this client are remembered. */
  maxTrackedGroups: number;
  /** Longest a fetch waits on the broker; close() waits for the fetch in flight. */
  maxWaitTimeInMs: number;
  /** The collector's public keys: outcomes that do not verify against them are ignored and counted. */
  outcomeKeys?: OutcomeVerifyingKeys;
}

/** Outcomes read and ignored, by why (see `ClientOptions.outcomeKeys`). */
export interface RefusedOutcomes {
  /** Without the collector's signature headers. */
  unsigned: number;
  /** With a signature that does not verify, or by a key not trusted. */
  invalid: number;
  /** Of a group this client created, but `created` before its Create (an earlier group with the same id). */
  stale: number;
}

export interface Waiter {
  resolve(outcome: Outcome): void;
  reject(error: unknown): void;
}

interface TopicState {
  /** Every record of the topic with a timestamp at or after this has been, or will be, read. */
  coveredFrom: number;
  /** Newest timestamp of an outcome of this topic evicted from the buffer of other groups. */
  evictedUpTo: number;
  /** Newest timestamp of an outcome of this topic evicted from the buffer of the client's own groups. */
  ownEvictedUpTo: number;
  /** The next offset to read, per partition: re-applied whenever the consumer (re)joins. */
  positions: Map<number, string>;
}

interface Buffered {
  text: string;
  topic: string;
  timestamp: number;
}

/** A group this client created: where its outcome appears and from when. */
export interface TrackedGroup {
  topic: string;
  since: number;
  /** Its outcome was handed to a wait (later copies and waits use the buffer of other groups). */
  delivered: boolean;
}

export class OutcomeListener {
  private consumer: Consumer | undefined;
  private running = false;
  private admin: Promise<Admin> | undefined;
  private readonly topics = new Map<string, TopicState>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  /**
   * Outcomes read and not awaited, in two bounded buffers: those of groups this client created
   * and has not yet seen awaited, and all others. The topic's traffic (other applications'
   * groups) never pushes out an outcome this client is about to await.
   */
  private readonly own: BoundedLru<string, Buffered>;
  private readonly others: BoundedLru<string, Buffered>;
  private readonly created: BoundedLru<string, TrackedGroup>;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly refusedCounts: RefusedOutcomes = { unsigned: 0, invalid: 0, stale: 0 };

  constructor(private readonly options: ListenerOptions) {
    const buffer = (onEvict: (state: TopicState, timestamp: number) => void) =>
      new BoundedLru<string, Buffered>(
        options.maxBufferedOutcomes,
        options.maxBufferedBytes,
        (entry) => entry.text.length,
        (_, entry) => {
          const state = this.topics.get(entry.topic);
          if (state) onEvict(state, entry.timestamp);
        },
      );
    this.own = buffer((state, t) => {
      state.ownEvictedUpTo = Math.max(state.ownEvictedUpTo, t);
    });
    this.others = buffer((state, t) => {
      state.evictedUpTo = Math.max(state.evictedUpTo, t);
    });
    this.created = new BoundedLru(options.maxTrackedGroups);
  }

  /** Outcomes read and not awaited, currently kept (both buffers). */
  get buffered(): { outcomes: number; bytes: number } {
    return {
      outcomes: this.own.size + this.others.size,
      bytes: this.own.totalWeight + this.others.totalWeight,
    };
  }

  get refused(): RefusedOutcomes {
    return { ...this.refusedCounts };
  }

  /** Accepts outcomes of a group this client created from `since` on (an earlier Create of the same id). */
  acceptSince(groupId: string, since: number): void {
    const tracked = this.created.peek(groupId);
    if (tracked) tracked.since = Math.min(tracked.since, since);
  }

  /** Remembers a group this client is about to create. */
  track(groupId: string, topic: string, since: number): void {
    this.created.set(groupId, { topic, since, delivered: false });
  }

  tracked(groupId: string): TrackedGroup | undefined {
    return this.created.peek(groupId);
  }

  /** The topics the consumer reads. */
  get subscribedTopics(): string[] {
    return [...this.topics.keys()];
  }

  /** An outcome already read, if still buffered; it counts as delivered. */
  lookup(groupId: string): Outcome | undefined {
    const own = this.own.peek(groupId);
    if (own) {
      this.own.delete(groupId);
      this.others.set(groupId, own);
      this.markDelivered(groupId);
    }
    const entry = own ?? this.others.get(groupId);
    const outcome = entry ? parseOutcome(entry.text) : undefined;
    // Read before this client created the group (with the same id): an earlier group's.
    const tracked = this.created.peek(groupId);
    if (outcome && tracked && Date.parse(outcome.created) < tracked.since) return undefined;
    return outcome;
  }

  addWaiter(groupId: string, waiter: Waiter): void {
    const set = this.waiters.get(groupId) ?? new Set<Waiter>();
    set.add(waiter);
    this.waiters.set(groupId, set);
  }

  removeWaiter(groupId: string, waiter: Waiter): void {
    const set = this.waiters.get(groupId);
    if (!set) return;
    set.delete(waiter);
    if (set.size === 0) this.waiters.delete(groupId);
  }

  /**
   * Makes sure the consumer reads `topic` from `since` (epoch ms) on; without
   * `since`, from now on if the topic is new (and nothing changes otherwise).
   * `ownGroup`: the awaited group is this client's, not yet delivered (its outcome, if
   * already read, is in the buffer of own groups unless that one overflowed).
   */
  cover(topic: string, since?: number, ownGroup = false): Promise<void> {
    return this.serial(() => this.coverNow(topic, since, ownGroup));
  }

  /** Rejects every wait with ClientClosedError, then leaves: consumer disconnected, its group deleted. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.rejectAll(new ClientClosedError('awaitOutcome'));
      this.own.clear();
      this.others.clear();
      this.created.clear();
    }
    return this.serial(async () => {
      const consumer = this.consumer;
      this.consumer = undefined;
      if (consumer) {
        await consumer.disconnect();
        await this.deleteGroup();
      }
      const admin = this.admin;
      this.admin = undefined;
      if (admin) await (await admin.catch(() => undefined))?.disconnect();
    });
  }

  private rejectAll(error: unknown): void {
    const waiting = [...this.waiters.values()].flatMap((set) => [...set]);
    this.waiters.clear();
    for (const waiter of waiting) waiter.reject(error);
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op);
    this.queue = next.catch(() => {});
    return next;
  }

  private async coverNow(topic: string, since: number | undefined, ownGroup: boolean): Promise<void> {
    if (this.closed) throw new ClientClosedError('awaitOutcome');
    // The consumer crashed for good: a new one resumes every topic where the old one was.
    if (!this.consumer && this.topics.size > 0) await this.resubscribe();
    const state = this.topics.get(topic);
    if (!state) {
      const admin = await this.adminReady();
      const offsets = await retried(() =>
        since === undefined
          ? admin.fetchTopicOffsets(topic)
          : admin.fetchTopicOffsetsByTimestamp(topic, since),
      );
      if (this.closed) throw new ClientClosedError('awaitOutcome');
      this.topics.set(topic, {
        // From the end: taken after the offsets, so that a record appended meanwhile never counts as read.
        coveredFrom: since ?? Date.now(),
        evictedUpTo: Number.NEGATIVE_INFINITY,
        ownEvictedUpTo: Number.NEGATIVE_INFINITY,
        positions: new Map(offsets.map((p) => [p.partition, p.offset])),
      });
      await this.resubscribe();
      return;
    }
    // Already read from `since` on, and nothing read since then was evicted: a buffer or the consumer has it.
    const evictedUpTo = ownGroup ? state.ownEvictedUpTo : Math.max(state.evictedUpTo, state.ownEvictedUpTo);
    if (since === undefined || (since >= state.coveredFrom && since > evictedUpTo)) return;
    const admin = await this.adminReady();
    const offsets = await retried(() => admin.fetchTopicOffsetsByTimestamp(topic, since));
    if (this.closed) throw new ClientClosedError('awaitOutcome');
    for (const { partition, offset } of offsets) {
      const current = state.positions.get(partition);
      // Only ever move back: a partition behind `since` still has to be read from where it is.
      if (current !== undefined && Number(offset) >= Number(current)) continue;
      state.positions.set(partition, offset);
      this.consumer?.seek({ topic, partition, offset });
    }
    state.coveredFrom = Math.min(state.coveredFrom, since);
    state.evictedUpTo = Math.min(state.evictedUpTo, since - 1);
    state.ownEvictedUpTo = Math.min(state.ownEvictedUpTo, since - 1);
  }

  /** Starts the consumer on every topic, or restarts it with one more (kafkajs subscribes only while stopped). */
  private async resubscribe(): Promise<void> {
    let consumer = this.consumer;
    if (!consumer) {
      consumer = this.options.kafka.consumer({
        groupId: this.options.groupId,
        maxWaitTimeInMs: this.options.maxWaitTimeInMs,
        allowAutoTopicCreation: false,
      });
      // Every (re)join starts each partition where this client left it, not at the group's committed
      // offsets (it commits none): positions survive restarts, rebalances and re-subscriptions.
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => this.seekAll(payload.memberAssignment));
      // kafkajs restarts itself after retriable faults; after any other, the waits learn why, and the next wait starts a new consumer.
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (payload.restart || this.consumer !== consumer) return;
        this.consumer = undefined;
        this.running = false;
        this.rejectAll(payload.error);
      });
      this.consumer = consumer;
      await consumer.connect();
    } else if (this.running) {
      await consumer.stop();
      this.running = false;
    }
    if (this.closed) return;
    await consumer.subscribe({ topics: [...this.topics.keys()], fromBeginning: false });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        this.topics.get(topic)?.positions.set(partition, String(Number(message.offset) + 1));
        this.receive(topic, message.key, message.value, message.headers, Number(message.timestamp));
      },
    });
    this.running = true;
  }

  private seekAll(assignment: Record<string, number[]>): void {
    const consumer = this.consumer;
    if (!consumer) return;
    for (const [topic, partitions] of Object.entries(assignment)) {
      const state = this.topics.get(topic);
      for (const partition of partitions) {
        const offset = state?.positions.get(partition);
        if (offset !== undefined) consumer.seek({ topic, partition, offset });
      }
    }
  }

  private receive(
    topic: string,
    key: Buffer | null,
    value: Buffer | null,
    headers: IHeaders | undefined,
    timestamp: number,
  ): void {
    if (!value || this.closed) return;
    const text = value.toString('utf8');
    const outcome = parseOutcome(text);
    if (!outcome) return;
    const keys = this.options.outcomeKeys;
    if (keys) {
      const verdict = verifyOutcome(keys, { topic, key, value, headers });
      if (verdict !== 'valid') {
        this.refusedCounts[verdict]++;
        return;
      }
    }
    // An outcome of this client's group created before the client's Create is an earlier group's.
    const own = this.created.peek(outcome.id);
    if (own && Date.parse(outcome.created) < own.since) {
      this.refusedCounts.stale++;
      return;
    }
    const waiting = this.waiters.get(outcome.id);
    if (waiting) {
      this.waiters.delete(outcome.id);
      this.markDelivered(outcome.id);
      for (const waiter of waiting) waiter.resolve(outcome);
    }
    // Copies of one outcome are identical: the newest replaces the older one.
    const entry = { text, topic, timestamp };
    const tracked = this.created.peek(outcome.id);
    if (tracked && !tracked.delivered) {
      this.own.set(outcome.id, entry);
    } else {
      this.own.delete(outcome.id);
      this.others.set(outcome.id, entry);
    }
  }

  private markDelivered(groupId: string): void {
    const tracked = this.created.peek(groupId);
    if (tracked) tracked.delivered = true;
  }

  private adminReady(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.options.kafka.admin();
      this.admin = admin.connect().then(() => admin);
      this.admin.catch(() => {
        this.admin = undefined;
      });
    }
    return this.admin;
  }

  /** Deletes the consumer group (empty once the consumer left), so that none is left behind. */
  private async deleteGroup(): Promise<void> {
    const admin = await this.adminReady();
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.deleteGroups([this.options.groupId]);
        return;
      } catch (error) {
        if (isGroupNotFound(error)) return;
        if (attempt >= 3) throw error;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  }
}

/**
 * kafkajs's admin gives up at once on a retriable error other than an unknown topic
 * (e.g. NOT_LEADER_FOR_PARTITION while a new topic's leaders settle): retry those a while.
 */
async function retried<T>(op: () => Promise<T>, attempts = 8): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (error) {
      if (attempt >= attempts || (error as { retriable?: boolean }).retriable !== true) throw error;
      await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 2_000)));
    }
  }
}

function isGroupNotFound(error: unknown): boolean {
  const groups = (error as { groups?: { error?: { type?: string } }[] }).groups ?? [];
  return groups.length > 0 && groups.every((g) => g.error?.type === 'GROUP_ID_NOT_FOUND');
}
