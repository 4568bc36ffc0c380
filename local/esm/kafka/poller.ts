import kafkajs, { type Kafka, type KafkaMessage } from 'kafkajs';
import type { TimestampType } from '../kafka-event.ts';
import type { Stopper } from '../stopper.ts';

// kafkajs is CommonJS; Node's ESM loader cannot see this export by name.
const { ConfigResourceTypes } = kafkajs;

export interface PollerOptions {
  groupId: string;
  topics: string[];
  fromBeginning: boolean;
  stopper: Stopper;
  /** Messages fetched for one partition, in offset order. */
  onMessages(topic: string, partition: number, messages: KafkaMessage[]): void;
  /** The group (re)balanced: the `"<topic>-<partition>"` ids this consumer now owns. */
  onAssignment(assigned: ReadonlySet<string>): void;
}

/** The poller: one kafkajs consumer in the mapping's consumer group. */
export interface Poller {
  /**
   * Joins the group and starts fetching; resolves once the first assignment is known, so
   * that records produced after the source started are seen. Offsets are never committed
   * automatically: only the offset keeper commits, after the records are done.
   */
  start(): Promise<void>;
  pause(topic: string, partition: number): void;
  resume(topic: string, partition: number): void;
  /** Commits the group's offset (the next record to read) of one partition. */
  commit(topic: string, partition: number, offset: string): Promise<void>;
  disconnect(): Promise<void>;
}

/** How long `start` waits for the first group join before returning anyway. */
const FIRST_JOIN_WAIT_MS = 30_000;

/** Creates the consumer; nothing connects before `start`. */
export function createPoller(kafka: Kafka, o: PollerOptions): Poller {
  const consumer = kafka.consumer({
    groupId: o.groupId,
    maxWaitTimeInMs: 250,
    allowAutoTopicCreation: false,
  });
  let joined: () => void = () => {};
  const firstJoin = new Promise<void>((resolve) => {
    joined = resolve;
  });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    o.onAssignment(
      new Set(
        Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) =>
          partitions.map((p) => `${topic}-${p}`),
        ),
      ),
    );
    joined();
  });
  return {
    async start() {
      await consumer.connect();
      await consumer.subscribe({ topics: o.topics, fromBeginning: o.fromBeginning });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          if (o.stopper.stopped) return;
          o.onMessages(batch.topic, batch.partition, batch.messages);
        },
      });
      await Promise.race([firstJoin, o.stopper.wait(FIRST_JOIN_WAIT_MS)]);
    },
    pause: (topic, partition) => consumer.pause([{ topic, partitions: [partition] }]),
    resume: (topic, partition) => consumer.resume([{ topic, partitions: [partition] }]),
    commit: (topic, partition, offset) => consumer.commitOffsets([{ topic, partition, offset }]),
    disconnect: () => consumer.disconnect().catch(() => {}),
  };
}

/** CREATE_TIME or LOG_APPEND_TIME per topic, from the topic's `message.timestamp.type`. */
export async function readTimestampTypes(
  kafka: Kafka,
  topics: string[],
): Promise<Map<string, TimestampType>> {
  const admin = kafka.admin();
  const types = new Map<string, TimestampType>();
  await admin.connect();
  try {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map((name) => ({
        type: ConfigResourceTypes.TOPIC,
        name,
        configNames: ['message.timestamp.type'],
      })),
    });
    for (const resource of resources) {
      const value = resource.configEntries.find(
        (e) => e.configName === 'message.timestamp.type',
      )?.configValue;
      types.set(resource.resourceName, value === 'LogAppendTime' ? 'LOG_APPEND_TIME' : 'CREATE_TIME');
    }
  } catch {
    // Unknown topics or an old broker: CREATE_TIME, the Kafka default.
  } finally {
    await admin.disconnect();
  }
  return types;
}
