import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import type { KafkaMessage } from 'kafkajs';
import type { RecordResult } from '#service/collector.ts';
import { loadSettings, type Settings } from '#shared/config.ts';
import { createRuntime, kafkaPublisher, type Runtime } from '#shared/runtime.ts';
import type { StoreOptions } from '#store/group-store.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { dynamoClient, freshTopic, kafka, services } from './services.ts';

/** A collector runtime on the real services, with its own outcome and dead-letter topics. */
export async function testRuntime(
  overrides: Partial<Settings> = {},
  parts: { earlyReports?: StoreOptions['earlyReports'] } = {},
): Promise<Runtime & { close(): Promise<void> }> {
  const [outcomeTopic, deadLetterTopic] = await Promise.all([
    freshTopic('outcomes', 3),
    freshTopic('dlq', 1),
  ]);
  const settings: Settings = {
    ...loadSettings({}),
    tableName: services().tableName,
    kafkaBrokers: services().brokers,
    outcomeTopic,
    deadLetterTopic,
    ...overrides,
  };
  const dynamo = dynamoClient();
  const publisher = kafkaPublisher({ clientId: 'collector-test', brokers: services().brokers });
  const runtime = createRuntime({ settings, dynamo, publisher, functionName: 'collector-test', ...parts });
  runtime.logger.setLogLevel('SILENT');
  return {
    ...runtime,
    async close() {
      await publisher.disconnect();
      dynamo.destroy();
    },
  };
}

export interface TestRecord {
  topic?: string;
  partition?: number;
  offset?: number;
  key?: string | Buffer;
  value: string | Buffer | null;
  headers?: Record<string, string>;
}

let offsetCounter = 0;

/** A Kafka event exactly as Lambda's event source mapping builds it (MSK or self-managed form). */
export function kafkaEvent(records: TestRecord[], form: 'msk' | 'self-managed' = 'msk') {
  const grouped: Record<string, unknown[]> = {};
  for (const r of records) {
    const topic = r.topic ?? 'eventbus-collector';
    const partition = r.partition ?? 0;
    const id = `${topic}-${partition}`;
    const list = grouped[id] ?? [];
    grouped[id] = list;
    list.push({
      topic,
      partition,
      offset: r.offset ?? offsetCounter++,
      timestamp: Date.now(),
      timestampType: 'CREATE_TIME',
      ...(r.key === undefined ? {} : { key: Buffer.from(r.key).toString('base64') }),
      ...(r.value === null ? {} : { value: Buffer.from(r.value).toString('base64') }),
      headers: Object.entries(r.headers ?? {}).map(([name, value]) => ({ [name]: [...Buffer.from(value)] })),
    });
  }
  const bootstrapServers = 'b-1.example.kafka.us-east-1.amazonaws.com:9098';
  return form === 'msk'
    ? {
        eventSource: 'aws:kafka',
        eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/example/abc',
        bootstrapServers,
        records: grouped,
      }
    : { eventSource: 'SelfManagedKafka', bootstrapServers, records: grouped };
}

const samplesDir = join(import.meta.dirname, '..', '..', 'events', 'samples');
export const SAMPLE_GROUP = 'F0CABCA1-64AE-40A3-ABEB-0741ACF1FF81';

/** A sample event from events/samples, with the group id replaced so that tests never collide. */
export function sample(
  name:
    | 'create'
    | 'done-a'
    | 'done-b'
    | 'done-c'
    | 'error-c'
    | 'create-tolerate'
    | 'create-quorum'
    | 'cancel'
    | 'extend',
  groupId: string,
): string {
  return readFileSync(join(samplesDir, `${name}.json`), 'utf8')
    .trim()
    .replaceAll(SAMPLE_GROUP, groupId);
}

export const newGroupId = () => randomUUID().toUpperCase();

export interface ReadMessage {
  key: string | null;
  value: string;
  headers: Record<string, string>;
  partition: number;
  offset: string;
}

/** Reads a topic from the beginning until `count` messages arrived or `timeoutMs` passed. */
export async function readTopic(topic: string, count: number, timeoutMs = 15_000): Promise<ReadMessage[]> {
  const consumer = kafka('reader').consumer({ groupId: `reader-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const messages: ReadMessage[] = [];
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        messages.push(toRead(partition, message));
        if (messages.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  return messages;
}

/**
 * Reads everything a topic holds now: the end offset of each partition is fetched first, then the
 * topic is read from the beginning until every partition reached it (a condition, not a quiet period).
 */
export async function drainTopic(topic: string, maxMs = 60_000): Promise<ReadMessage[]> {
  const client = kafka('drain');
  const admin = client.admin();
  await admin.connect();
  const ends = new Map(
    (await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect())).map((p) => [
      p.partition,
      BigInt(p.high),
    ]),
  );
  const pending = new Set([...ends].filter(([, high]) => high > 0n).map(([partition]) => partition));
  const messages: ReadMessage[] = [];
  if (pending.size === 0) return messages;
  const consumer = client.consumer({ groupId: `drain-${randomUUID()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const high = ends.get(partition) ?? 0n;
        if (BigInt(message.offset) < high) messages.push(toRead(partition, message));
        if (BigInt(message.offset) + 1n >= high && pending.delete(partition) && pending.size === 0) done();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `drainTopic(${topic}): partitions ${[...pending].join(',')} not read to their end in ${maxMs} ms`,
            ),
          ),
        maxMs,
      );
    });
    await Promise.race([finished, timeout]).finally(() => clearTimeout(timer));
  } finally {
    await consumer.disconnect();
  }
  return messages;
}

function toRead(partition: number, message: KafkaMessage): ReadMessage {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
  return {
    key: message.key?.toString() ?? null,
    value: message.value?.toString() ?? '',
    headers,
    partition,
    offset: message.offset,
  };
}

/** Delivers records as one Kafka event; resolves to the batch failures and each applied record's result. */
export async function deliverRecords(
  runtime: Runtime,
  records: TestRecord[],
  now: () => number = Date.now,
): Promise<{ failures: Awaited<ReturnType<typeof processKafkaEvent>>; results: RecordResult[] }> {
  const results: RecordResult[] = [];
  const failures = await processKafkaEvent(kafkaEvent(records), runtime, now, (_, r) => {
    if (r.status === 'fulfilled') results.push(r.value);
  });
  return { failures, results };
}

/** The stream event of DynamoDB's TTL removing an item, as Lambda delivers it (from the removed image). */
export const ttlRemoval = (oldImage: Record<string, unknown>): DynamoDBStreamEvent =>
  ({
    Records: [
      {
        eventID: randomUUID(),
        eventName: 'REMOVE',
        eventVersion: '1.1',
        eventSource: 'aws:dynamodb',
        awsRegion: 'us-east-1',
        eventSourceARN: services().streamArn,
        userIdentity: { type: 'Service', principalId: 'dynamodb.amazonaws.com' },
        dynamodb: {
          ApproximateCreationDateTime: Math.floor(Date.now() / 1000),
          Keys: { pk: oldImage.pk, sk: oldImage.sk },
          OldImage: oldImage,
          SequenceNumber: '100000000000000000001',
          SizeBytes: 200,
          StreamViewType: 'NEW_AND_OLD_IMAGES',
        },
      },
    ],
  }) as unknown as DynamoDBStreamEvent;
