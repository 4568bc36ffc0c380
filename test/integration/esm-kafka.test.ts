import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Admin, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type KafkaEventSource,
  type KafkaEventSourceOptions,
  type LambdaKafkaEvent,
  type LambdaKafkaRecord,
  shapeOf,
  startKafkaEventSource,
} from '#local/esm/index.ts';
import { readTopic } from '../helpers/collector.ts';
import { freshTopic, kafka, services, uniqueId } from '../helpers/services.ts';

const awsEvents = join(import.meta.dirname, '..', '..', 'events', 'aws');
const sampleRecord = (name: string) => {
  const event = JSON.parse(readFileSync(join(awsEvents, name), 'utf8')) as LambdaKafkaEvent;
  return Object.values(event.records)[0]?.[0] as LambdaKafkaRecord;
};

const FAST = { initialMs: 50, maxMs: 200 };

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000) {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const recordsOf = (event: LambdaKafkaEvent) => Object.values(event.records).flat();
const text = (b64: string | undefined) =>
  b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString();

describe('Kafka event source emulator on the real broker', () => {
  let producer: Producer;
  let admin: Admin;
  const sources: KafkaEventSource[] = [];

  beforeAll(async () => {
    producer = kafka('esm-test').producer({ idempotent: true, maxInFlightRequests: 1 });
    admin = kafka('esm-admin').admin();
    await Promise.all([producer.connect(), admin.connect()]);
  });

  afterAll(async () => {
    await Promise.all(sources.map((s) => s.stop()));
    await Promise.all([producer.disconnect(), admin.disconnect()]);
  });

  const start = async (options: Omit<KafkaEventSourceOptions, 'brokers'>) => {
    const source = await startKafkaEventSource({
      brokers: services().brokers,
      groupId: uniqueId('esm'),
      maximumBatchingWindowSeconds: 0.2,
      backoff: FAST,
      ...options,
    });
    sources.push(source);
    return source;
  };

  /** Committed offset (next to read) per partition; -1 when none. */
  const committed = async (groupId: string, topic: string) => {
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return Object.fromEntries((offsets?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  };

  it('builds MSK and self-managed events as Lambda does: keyless without key, headers as bytes', async () => {
    // Prepare
    const topic = await freshTopic('esm-shape', 1);
    await producer.send({
      topic,
      acks: -1,
      messages: [
        { key: 'k1', value: '{"n":1}', headers: { headerKey: 'headerValue', other: 'x' } },
        { value: '{"n":2}' },
        { key: 'k3', value: null },
      ],
    });
    const msk: LambdaKafkaEvent[] = [];
    const selfManaged: LambdaKafkaEvent[] = [];

    // Act
    const a = await start({ topics: [topic], form: 'msk', handler: (e) => void msk.push(e) });
    const b = await start({
      topics: [topic],
      form: 'self-managed',
      handler: (e) => void selfManaged.push(e),
    });
    await waitUntil(
      'both forms',
      () => msk.flatMap(recordsOf).length >= 3 && selfManaged.flatMap(recordsOf).length >= 3,
    );
    await Promise.all([a.stop(), b.stop()]);

    // Assess
    const event = msk[0] as LambdaKafkaEvent;
    expect(event.eventSource).toBe('aws:kafka');
    expect(event).toHaveProperty('eventSourceArn');
    expect(event.bootstrapServers).toBe(services().brokers.join(','));
    expect(Object.keys(event.records)).toEqual([`${topic}-0`]);
    const [keyed, keyless, tombstone] = msk.flatMap(recordsOf);
    expect(shapeOf(keyed)).toEqual(shapeOf(sampleRecord('msk-event.json')));
    expect(keyed).toMatchObject({ topic, partition: 0, offset: 0, timestampType: 'CREATE_TIME' });
    expect(text(keyed?.key)).toBe('k1');
    expect(text(keyed?.value)).toBe('{"n":1}');
    expect(keyed?.headers).toEqual([{ headerKey: [...Buffer.from('headerValue')] }, { other: [120] }]);
    expect(Math.abs((keyed?.timestamp ?? 0) - Date.now())).toBeLessThan(120_000);
    expect(keyless).not.toHaveProperty('key');
    expect(keyless?.headers).toEqual([]);
    expect(tombstone).not.toHaveProperty('value');
    const sm = selfManaged[0] as LambdaKafkaEvent;
    expect(sm.eventSource).toBe('SelfManagedKafka');
    expect(sm).not.toHaveProperty('eventSourceArn');
    expect(shapeOf(selfManaged.flatMap(recordsOf)[0])).toEqual(
      shapeOf(sampleRecord('self-managed-kafka-event.json')),
    );
  });

  it('commits offsets only after the function succeeded', async () => {
    // Prepare
    const topic = await freshTopic('esm-commit', 1);
    await producer.send({ topic, acks: -1, messages: [{ value: 'a' }, { value: 'b' }] });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let invoked = false;

    // Act
    const source = await start({
      topics: [topic],
      handler: async () => {
        invoked = true;
        await gate;
      },
    });
    await waitUntil('invocation', () => invoked);
    const whileRunning = await committed(source.groupId, topic);
    release();
    // The broker can answer a fetch before kafkajs resolves the commit: wait for both to show it.
    await waitUntil(
      'commit',
      async () =>
        (await committed(source.groupId, topic))[0] === 2 && source.stats().committed[`${topic}-0`] === 2,
    );

    // Assess
    expect(whileRunning[0]).toBe(-1);
    expect(source.stats().committed).toEqual({ [`${topic}-0`]: 2 });
  });

  it('redelivers a failed batch and holds its partition while another partition progresses', async () => {
    // Prepare
    const topic = await freshTopic('esm-hold', 2);
    await producer.send({
      topic,
      acks: -1,
      messages: [
        { partition: 0, value: 'p0-a' },
        { partition: 0, value: 'p0-b' },
        { partition: 1, value: 'p1-a' },
      ],
    });
    let failing = true;
    const p0Batches: number[][] = [];
    const p1Batches: number[][] = [];

    // Act
    const source = await start({
      topics: [topic],
      reportBatchItemFailures: false,
      maximumRetryAttempts: -1,
      handler: async (event) => {
        for (const [id, records] of Object.entries(event.records)) {
          (id.endsWith('-0') ? p0Batches : p1Batches).push(records.map((r) => r.offset));
        }
        if (failing && event.records[`${topic}-0`]) throw new Error('poison');
      },
    });
    await waitUntil('p0 retried and p1 committed', async () => {
      return p0Batches.length >= 3 && (await committed(source.groupId, topic))[1] === 1;
    });
    await producer.send({
      topic,
      acks: -1,
      messages: [
        { partition: 0, value: 'p0-c' },
        { partition: 1, value: 'p1-b' },
      ],
    });
    await waitUntil('p1 progressed again', async () => (await committed(source.groupId, topic))[1] === 2);
    const heldAt = (await committed(source.groupId, topic))[0];
    const heldBatches = [...p0Batches];
    failing = false;
    await waitUntil('p0 committed', async () => (await committed(source.groupId, topic))[0] === 3);

    // Assess
    expect(heldAt).toBe(-1);
    expect(new Set(heldBatches.map((b) => b.join(',')))).toEqual(new Set(['0,1']));
    expect(p0Batches.flat()).toContain(2);
    expect(p1Batches.flat()).toEqual([0, 1]);
    expect(source.stats().retries).toBeGreaterThanOrEqual(2);
  });

  it('sends records to the on-failure topic after maximumRetryAttempts and moves past them', async () => {
    // Prepare
    const [topic, destination] = await Promise.all([freshTopic('esm-retry', 1), freshTopic('esm-dlt', 1)]);
    await producer.send({
      topic,
      acks: -1,
      messages: [
        { key: 'k0', value: 'ok-0' },
        { key: 'k1', value: 'poison' },
        { key: 'k2', value: 'ok-2' },
      ],
    });
    const calls: string[] = [];

    // Act
    const source = await start({
      topics: [topic],
      batchSize: 1,
      maximumRetryAttempts: 2,
      onFailureTopic: destination,
      handler: (event) => {
        const value = text(recordsOf(event)[0]?.value) ?? '';
        calls.push(value);
        if (value === 'poison') throw new Error('cannot process');
      },
    });
    await waitUntil('all committed', async () => (await committed(source.groupId, topic))[0] === 3);
    const [dead] = await readTopic(destination, 1);

    // Assess
    expect(calls).toEqual(['ok-0', 'poison', 'poison', 'poison', 'ok-2']);
    expect(dead?.key).toBe('k1');
    const value = JSON.parse(dead?.value ?? '{}');
    expect(value).toMatchObject({
      requestContext: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 3 },
      version: '1.0',
      KafkaBatchInfo: {
        batchSize: 1,
        recordInfo: { offset: '1' },
        bootstrapServers: services().brokers.join(','),
      },
    });
    expect(text(value.payload.records[`${topic}-0`][0].value)).toBe('poison');
    expect(source.stats()).toMatchObject({ recordsDiscarded: 1, destinationMessages: 1 });
  });

  it('retries from the lowest failed offset of a partial batch response', async () => {
    // Prepare
    const topic = await freshTopic('esm-partial', 1);
    await producer.send({ topic, acks: -1, messages: ['a', 'b', 'c', 'd', 'e'].map((value) => ({ value })) });
    const batches: number[][] = [];
    const commitsAfterFirst: number[] = [];
    let source: KafkaEventSource | undefined;

    // Act
    source = await start({
      topics: [topic],
      batchSize: 10,
      maximumBatchingWindowSeconds: 1,
      reportBatchItemFailures: true,
      handler: (event) => {
        const offsets = recordsOf(event).map((r) => r.offset);
        batches.push(offsets);
        if (batches.length === 2) commitsAfterFirst.push(source?.stats().committed[`${topic}-0`] ?? -1);
        if (batches.length === 1) {
          return {
            batchItemFailures: [
              { itemIdentifier: { partition: `${topic}-0`, offset: 3 } },
              { itemIdentifier: { partition: `${topic}-0`, offset: 2 } },
            ],
          };
        }
        if (batches.length === 2) {
          // An identifier that names no record of the batch fails the whole batch.
          return { batchItemFailures: [{ itemIdentifier: { partition: `${topic}-0`, offset: 99 } }] };
        }
        return { batchItemFailures: [] };
      },
    });
    await waitUntil('all committed', async () => (await committed(source?.groupId ?? '', topic))[0] === 5);

    // Assess
    expect(batches).toEqual([
      [0, 1, 2, 3, 4],
      [2, 3, 4],
      [2, 3, 4],
    ]);
    expect(commitsAfterFirst).toEqual([2]);
  });

  it('pauses fetching while a partition is held and resumes it: every record arrives once, in order', async () => {
    // Prepare: more records than the batcher buffers (200) before it pauses the partition.
    const topic = await freshTopic('esm-pause', 1);
    const total = 450;
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: total }, (_, i) => ({ value: String(i) })),
    });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const offsets: number[] = [];

    // Act
    const source = await start({
      topics: [topic],
      batchSize: 10,
      handler: async (event) => {
        offsets.push(...recordsOf(event).map((r) => r.offset));
        await gate;
      },
    });
    await waitUntil('the first batch held', () => offsets.length > 0);
    // Produced while the partition is paused: these arrive only if fetching resumes.
    await producer.send({ topic, acks: -1, messages: [{ value: 'late-1' }, { value: 'late-2' }] });
    release();
    await waitUntil('all committed', async () => (await committed(source.groupId, topic))[0] === total + 2);

    // Assess
    expect(offsets).toEqual(Array.from({ length: total + 2 }, (_, i) => i));
  });

  it('stops cleanly while a batch is being retried', async () => {
    // Prepare
    const topic = await freshTopic('esm-stop', 1);
    await producer.send({ topic, acks: -1, messages: [{ value: 'x' }] });
    let calls = 0;
    const source = await start({
      topics: [topic],
      backoff: { initialMs: 60_000, maxMs: 60_000 },
      handler: () => {
        calls++;
        throw new Error('always');
      },
    });
    await waitUntil('first call', () => calls > 0);

    // Act
    await source.stop();

    // Assess
    expect(calls).toBe(1);
    expect((await committed(source.groupId, topic))[0]).toBe(-1);
  });
});
