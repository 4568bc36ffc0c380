import { describe, expect, it } from 'vitest';
import {
  EventSourceConfigurationError,
  EventSourceStoppedError,
  type LambdaKafkaRecord,
} from '#local/esm/index.ts';
import { type FlowControl, PartitionBatcher } from '#local/esm/kafka/batcher.ts';
import { failureMessages } from '#local/esm/kafka/destination.ts';
import { OffsetKeeper } from '#local/esm/kafka/offsets.ts';
import { type KafkaEventSourceOptions, resolveKafkaSettings } from '#local/esm/kafka/options.ts';
import { kafkaFilterView } from '#local/esm/kafka/partition-worker.ts';
import { Stopper } from '#local/esm/stopper.ts';

const messages = (...offsets: number[]) => offsets.map((o) => ({ offset: String(o) }));
const offsetsOf = (batch: { offset: string }[] | undefined) => batch?.map((m) => Number(m.offset));

function batcher(limits: { batchSize?: number; windowMs?: number; highWater?: number } = {}) {
  const flow: string[] = [];
  const control: FlowControl = { pause: () => flow.push('pause'), resume: () => flow.push('resume') };
  const stopper = new Stopper();
  const b = new PartitionBatcher<{ offset: string }>(
    't',
    0,
    { batchSize: 3, windowMs: 0, highWater: 200, ...limits },
    control,
    stopper,
  );
  return { b, flow, stopper };
}

describe('Kafka partition batcher (local/esm/kafka/batcher.ts)', () => {
  it('hands out at most batchSize records per batch, in offset order', async () => {
    const { b } = batcher({ batchSize: 3 });
    b.push(messages(0, 1, 2, 3, 4));
    expect(offsetsOf(await b.next())).toEqual([0, 1, 2]);
    expect(offsetsOf(await b.next())).toEqual([3, 4]);
  });

  it('skips offsets it already buffered (refetched after a rebalance)', async () => {
    const { b } = batcher({ batchSize: 10 });
    b.push(messages(0, 1, 2));
    b.push(messages(1, 2, 3));
    expect(offsetsOf(await b.next())).toEqual([0, 1, 2, 3]);
  });

  it('waits for the batching window when the batch is not full, and returns at once when it is', async () => {
    const { b } = batcher({ batchSize: 3, windowMs: 150 });
    b.push(messages(0));
    const started = Date.now();
    const first = await b.next();
    const waited = Date.now() - started;
    b.push(messages(1, 2, 3));
    const fullStarted = Date.now();
    const full = await b.next();

    expect(offsetsOf(first)).toEqual([0]);
    expect(waited).toBeGreaterThanOrEqual(140);
    expect(offsetsOf(full)).toEqual([1, 2, 3]);
    expect(Date.now() - fullStarted).toBeLessThan(100);
  });

  it('a record arriving during the window completes the batch early', async () => {
    const { b } = batcher({ batchSize: 2, windowMs: 10_000 });
    b.push(messages(0));
    const pending = b.next();
    b.push(messages(1));
    expect(offsetsOf(await pending)).toEqual([0, 1]);
  });

  it('pauses fetching at the high-water mark and resumes below half of it', async () => {
    const { b, flow } = batcher({ batchSize: 2, highWater: 4 });
    b.push(messages(0, 1, 2));
    expect(flow).toEqual([]);
    b.push(messages(3));
    expect(flow).toEqual(['pause']);
    await b.next(); // 2 left: not below half
    expect(flow).toEqual(['pause']);
    await b.next(); // 0 left
    expect(flow).toEqual(['pause', 'resume']);
  });

  it('revoking drops the buffer and ends a waiting next', async () => {
    const { b } = batcher({ batchSize: 5, windowMs: 10_000 });
    b.push(messages(0));
    const pending = b.next();
    b.revoke();
    b.push(messages(1));
    expect(await pending).toBeUndefined();
    expect(b.size).toBe(0);
  });

  it('a stop ends an idle next without waiting for its timer', async () => {
    const { b, stopper } = batcher();
    const started = Date.now();
    const pending = b.next();
    stopper.stop();
    b.wake();
    expect(await pending).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(500);
  });
});

describe('Kafka offset keeper (local/esm/kafka/offsets.ts)', () => {
  const partition = (revoked = false) => ({ topic: 't', partition: 1, revoked });

  it('commits the next offset to read and remembers it', async () => {
    const commits: string[] = [];
    const keeper = new OffsetKeeper(
      async (topic, p, offset) => void commits.push(`${topic}-${p}@${offset}`),
      () => {},
    );
    await keeper.commit(partition(), 5);
    expect(commits).toEqual(['t-1@5']);
    expect(keeper.snapshot()).toEqual({ 't-1': 5 });
  });

  it('commitThrough commits a filtered-out tail but not the same offset twice', async () => {
    const commits: string[] = [];
    const keeper = new OffsetKeeper(
      async (_t, _p, offset) => void commits.push(offset),
      () => {},
    );
    await keeper.commit(partition(), 3);
    await keeper.commitThrough(partition(), 3);
    await keeper.commitThrough(partition(), 7);
    expect(commits).toEqual(['3', '7']);
  });

  it('a failed commit is logged and not remembered (a later commit covers it)', async () => {
    const log: string[] = [];
    const keeper = new OffsetKeeper(
      async () => {
        throw new Error('coordinator moved');
      },
      (line) => log.push(line),
    );
    await keeper.commit(partition(), 2);
    expect(keeper.snapshot()).toEqual({});
    expect(log).toEqual(['commit t-1@2 failed: Error: coordinator moved']);
  });

  it('a revoked partition is not committed: delivery of its batch stops', async () => {
    const commits: string[] = [];
    const keeper = new OffsetKeeper(
      async (_t, _p, offset) => void commits.push(offset),
      () => {},
    );
    await expect(keeper.commit(partition(true), 2)).rejects.toBeInstanceOf(EventSourceStoppedError);
    expect(commits).toEqual([]);
  });
});

describe('Kafka emulator settings (local/esm/kafka/options.ts)', () => {
  const base: KafkaEventSourceOptions = {
    brokers: ['b1:9092', 'b2:9092'],
    topics: ['in'],
    handler: () => {},
  };

  it('caps infinite retries at 10 when an on-failure topic is set, as Lambda does', () => {
    expect(resolveKafkaSettings({ ...base, maximumRetryAttempts: -1 }).handling.maximumRetryAttempts).toBe(
      -1,
    );
    expect(
      resolveKafkaSettings({ ...base, maximumRetryAttempts: -1, onFailureTopic: 'dlt' }).handling
        .maximumRetryAttempts,
    ).toBe(10);
  });

  it('derives the bootstrap servers and the back-pressure mark from the options', () => {
    const s = resolveKafkaSettings({ ...base, batchSize: 500 });
    expect(s.source.bootstrapServers).toBe('b1:9092,b2:9092');
    expect(s.highWater).toBe(1_000);
    expect(resolveKafkaSettings({ ...base, batchSize: 10 }).highWater).toBe(200);
  });

  it.each([
    [{ topics: [] }, 'at least one topic'],
    [{ batchSize: 0 }, 'batchSize'],
    [{ batchSize: 10_001 }, 'batchSize'],
    [{ maximumRetryAttempts: -2 }, 'maximumRetryAttempts'],
    [{ onFailureTopic: 'in' }, 'on-failure topic'],
  ] as [Partial<KafkaEventSourceOptions>, string][])('refuses %j', (bad, message) => {
    expect(() => resolveKafkaSettings({ ...base, ...bad })).toThrow(EventSourceConfigurationError);
    expect(() => resolveKafkaSettings({ ...base, ...bad })).toThrow(message);
  });
});

describe('Kafka on-failure messages and filter view', () => {
  const record = (key?: string): LambdaKafkaRecord => ({
    topic: 't',
    partition: 0,
    offset: 4,
    timestamp: 1,
    timestampType: 'CREATE_TIME',
    ...(key === undefined ? {} : { key: Buffer.from(key).toString('base64') }),
    value: Buffer.from('{"a":1}').toString('base64'),
    headers: [],
  });

  it('one message per record, keyed by its original key (keyless = null key)', () => {
    const out = failureMessages(
      {
        records: [record('k'), record()],
        condition: 'RetryAttemptsExhausted',
        invokeCount: 3,
        lastResult: { ok: false, error: new Error('x'), requestId: 'req', durationMs: 1 },
      },
      {
        functionName: 'fn',
        source: { form: 'self-managed', eventSourceArn: '', bootstrapServers: 'b' },
        now: 0,
      },
    );
    expect(out.map((m) => m.key?.toString() ?? null)).toEqual(['k', null]);
    expect(JSON.parse(String(out[0]?.value))).toMatchObject({
      requestContext: { requestId: 'req', approximateInvokeCount: 3 },
      responseContext: { functionError: 'Unhandled' },
      KafkaBatchInfo: { batchSize: 2 },
    });
  });

  it('filters see only value, as JSON when it parses', () => {
    expect(kafkaFilterView(record('k'))).toEqual({ value: { a: 1 } });
    expect(kafkaFilterView({ ...record(), value: Buffer.from('plain').toString('base64') })).toEqual({
      value: 'plain',
    });
    const { value: _, ...tombstone } = record();
    expect(kafkaFilterView(tombstone)).toEqual({ value: '' });
  });
});
