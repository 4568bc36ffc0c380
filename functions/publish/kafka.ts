import {
  type Admin,
  CompressionTypes,
  type IHeaders,
  Kafka,
  type KafkaConfig,
  logLevel,
  type Message,
  type Producer,
} from 'kafkajs';
import { type OutgoingMessage, PublishError, type Publisher } from './publisher.ts';

/**
 * A kafkajs producer created once per execution environment and reused:
 * idempotent, acks from all in-sync replicas, connected lazily.
 */
export class KafkaPublisher implements Publisher {
  private producer: Producer | undefined;
  private connecting: Promise<Producer> | undefined;
  private admin: Admin | undefined;
  private knownTopics = new Set<string>();

  constructor(private readonly config: KafkaConfig) {}

  private async connected(): Promise<Producer> {
    if (this.producer) return this.producer;
    this.connecting ??= (async () => {
      const kafka = new Kafka({ logLevel: logLevel.NOTHING, ...this.config });
      const producer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
      });
      try {
        await producer.connect();
      } catch (error) {
        this.connecting = undefined;
        throw error;
      }
      this.producer = producer;
      return producer;
    })();
    return this.connecting;
  }

  async publish(messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const byTopic = new Map<string, Message[]>();
    for (const m of messages) {
      const list = byTopic.get(m.destination) ?? [];
      list.push({
        key: m.key === null || typeof m.key === 'string' ? m.key : Buffer.from(m.key),
        value: Buffer.from(m.value),
        headers: m.headers ? kafkaHeaders(m.headers) : undefined,
      });
      byTopic.set(m.destination, list);
    }
    try {
      const producer = await this.connected();
      await producer.sendBatch({
        acks: -1,
        compression: CompressionTypes.None,
        topicMessages: [...byTopic].map(([topic, msgs]) => ({ topic, messages: msgs })),
      });
    } catch (cause) {
      // A broken connection is rebuilt on the next call.
      const producer = this.producer;
      this.producer = undefined;
      this.connecting = undefined;
      await producer?.disconnect().catch(() => {});
      throw new PublishError(`publishing ${messages.length} message(s) failed`, { cause });
    }
  }

  /** Checked against the broker's topic list, refreshed on a miss (a topic is rarely created twice). */
  async destinationExists(topic: string): Promise<boolean> {
    if (this.knownTopics.has(topic)) return true;
    if (!this.admin) {
      const admin = new Kafka({ logLevel: logLevel.NOTHING, ...this.config }).admin();
      await admin.connect();
      this.admin = admin;
    }
    this.knownTopics = new Set(await this.admin.listTopics());
    return this.knownTopics.has(topic);
  }

  async disconnect(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await admin?.disconnect();
    const producer = this.producer;
    this.producer = undefined;
    this.connecting = undefined;
    await producer?.disconnect();
  }
}

/**
 * kafkajs takes headers as an object: a repeated name becomes an array (kafkajs writes one header
 * per element, in order), and the object has no prototype so that a header named `__proto__` is kept.
 */
function kafkaHeaders(headers: readonly { name: string; value: Uint8Array | string }[]): IHeaders {
  const out = Object.create(null) as Record<string, (Buffer | string)[]>;
  for (const h of headers) {
    const value = typeof h.value === 'string' ? h.value : Buffer.from(h.value);
    const list = out[h.name];
    if (list) list.push(value);
    else out[h.name] = [value];
  }
  return out as IHeaders;
}
