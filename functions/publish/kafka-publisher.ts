import {
  type Admin,
  CompressionTypes,
  Kafka,
  type KafkaConfig,
  logLevel,
  type Message,
  type Producer,
} from 'kafkajs';

export interface OutgoingMessage {
  topic: string;
  key: Buffer | string | null;
  value: Buffer | string;
  headers?: Record<string, Buffer | string>;
}

export interface Publisher {
  publish(messages: OutgoingMessage[]): Promise<void>;
  /** Whether the broker has this topic (and lets us see it). Absent: assume it does. */
  topicExists?(topic: string): Promise<boolean>;
  disconnect(): Promise<void>;
}

/** The broker refused or could not be reached: the invocation fails so that the mapping retries. */
export class PublishError extends Error {
  override name = 'PublishError';
}

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
      const list = byTopic.get(m.topic) ?? [];
      list.push({ key: m.key, value: m.value, headers: m.headers });
      byTopic.set(m.topic, list);
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
  async topicExists(topic: string): Promise<boolean> {
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
