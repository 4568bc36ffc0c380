/**
 * A small typed client for producers and consumers of the bus:
 * create a group, report a member done or failed, await a group's outcome.
 *
 *   import { GroupCollectorClient } from 'eventbus-group-collector/client';
 */
import { randomUUID } from 'node:crypto';
import { type Consumer, Kafka, type KafkaConfig, logLevel, type Producer } from 'kafkajs';
import type { z } from 'zod';
import { FailureOutcomeSchema, SuccessOutcomeSchema } from '../functions/core/events.ts';
import { EVENT_TYPES, TOPICS } from '../functions/shared/config.ts';

export type SuccessOutcome = z.infer<typeof SuccessOutcomeSchema>;
export type FailureOutcome = z.infer<typeof FailureOutcomeSchema>;
export type Outcome = SuccessOutcome | FailureOutcome;

export interface ClientOptions {
  /** Broker addresses, or a full kafkajs configuration (TLS, SASL). */
  kafka: string[] | KafkaConfig;
  /** The collector's input topic. */
  topic?: string;
  /** Where outcomes arrive (the input topic by default, as the bus has always done). */
  outcomeTopic?: string;
}

export interface NewGroup {
  /** The group id; a random UUID when omitted. */
  id?: string;
  expected: string[];
  /** Seconds the group may stay open (the collector's default is 30). */
  ttl?: number;
  payload?: unknown;
  replyTo?: string;
}

export class OutcomeTimeoutError extends Error {
  override name = 'OutcomeTimeoutError';
}

export class GroupCollectorClient {
  private readonly kafka: Kafka;
  private readonly topic: string;
  private readonly outcomeTopic: string;
  private producer: Producer | undefined;
  private consumer: Consumer | undefined;
  private readonly outcomes = new Map<string, Outcome>();
  private readonly waiters = new Map<string, ((o: Outcome) => void)[]>();

  constructor(options: ClientOptions) {
    const config = Array.isArray(options.kafka) ? { brokers: options.kafka } : options.kafka;
    this.kafka = new Kafka({ clientId: 'group-collector-client', logLevel: logLevel.NOTHING, ...config });
    this.topic = options.topic ?? TOPICS.input;
    this.outcomeTopic = options.outcomeTopic ?? TOPICS.outcomes;
  }

  private async producerReady(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      this.producer = producer;
    }
    return this.producer;
  }

  private async send(key: string, value: unknown): Promise<void> {
    const producer = await this.producerReady();
    await producer.send({ topic: this.topic, acks: -1, messages: [{ key, value: JSON.stringify(value) }] });
  }

  /** Publishes an EventGroupCollectorCreate; returns the group id. */
  async createGroup(group: NewGroup): Promise<string> {
    const id = group.id ?? randomUUID();
    await this.send(id, {
      id,
      type: EVENT_TYPES.create,
      expected: group.expected,
      ...(group.ttl === undefined ? {} : { ttl: group.ttl }),
      ...(group.payload === undefined ? {} : { payload: group.payload }),
      ...(group.replyTo === undefined ? {} : { replyTo: group.replyTo }),
    });
    return id;
  }

  /** Reports a member done with its result. */
  async reportDone(group: string, member: string, result?: unknown): Promise<void> {
    await this.send(group, {
      id: member,
      type: EVENT_TYPES.done,
      group,
      ...(result === undefined ? {} : { result }),
    });
  }

  /** Reports a member failed: the group fails at once. */
  async reportFailed(group: string, member: string, error: string): Promise<void> {
    await this.send(group, { id: member, type: EVENT_TYPES.done, group, error });
  }

  /**
   * Starts listening for outcomes from the topic's current end. Call it before
   * creating the groups you will await, so that no outcome is missed.
   */
  async listen(): Promise<void> {
    if (this.consumer) return;
    const admin = this.kafka.admin();
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(this.outcomeTopic).finally(() => admin.disconnect());
    const consumer = this.kafka.consumer({ groupId: `group-collector-client-${randomUUID()}` });
    await consumer.connect();
    await consumer.subscribe({ topic: this.outcomeTopic, fromBeginning: false });
    const started = new Promise<void>((resolve) => {
      consumer.on(consumer.events.GROUP_JOIN, () => resolve());
    });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const outcome = parseOutcome(message.value);
        if (!outcome) return;
        this.outcomes.set(outcome.id, outcome);
        for (const resolve of this.waiters.get(outcome.id) ?? []) resolve(outcome);
        this.waiters.delete(outcome.id);
      },
    });
    await started;
    for (const p of ends)
      consumer.seek({ topic: this.outcomeTopic, partition: p.partition, offset: p.offset });
    this.consumer = consumer;
  }

  /** Waits for a group's outcome (success or failure); rejects with OutcomeTimeoutError after `timeoutMs`. */
  async awaitOutcome(groupId: string, timeoutMs = 60_000): Promise<Outcome> {
    await this.listen();
    const known = this.outcomes.get(groupId);
    if (known) return known;
    return new Promise<Outcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.set(
          groupId,
          (this.waiters.get(groupId) ?? []).filter((w) => w !== done),
        );
        reject(new OutcomeTimeoutError(`no outcome for group ${groupId} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (outcome: Outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      };
      this.waiters.set(groupId, [...(this.waiters.get(groupId) ?? []), done]);
    });
  }

  async close(): Promise<void> {
    await Promise.all([this.producer?.disconnect(), this.consumer?.disconnect()]);
    this.producer = undefined;
    this.consumer = undefined;
  }
}

/** Parses an outcome event; undefined for anything else on the topic. */
export function parseOutcome(value: Buffer | null | undefined): Outcome | undefined {
  if (!value) return undefined;
  try {
    const json = JSON.parse(value.toString('utf8')) as { type?: unknown };
    if (json.type === EVENT_TYPES.success) return SuccessOutcomeSchema.parse(json);
    if (json.type === EVENT_TYPES.failure) return FailureOutcomeSchema.parse(json);
  } catch {
    // Not an outcome.
  }
  return undefined;
}
