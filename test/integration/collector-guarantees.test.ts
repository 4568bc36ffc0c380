import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DLQ_HEADERS } from '#shared/config.ts';
import { createRuntime, kafkaPublisher, dynamoClient as runtimeDynamoClient } from '#shared/runtime.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { drainTopic, kafkaEvent, newGroupId, type TestRecord, testRuntime } from '../helpers/collector.ts';
import { dynamoClient } from '../helpers/services.ts';

const create = (id: string, expected: string[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, type: 'EventGroupCollectorCreate', expected, ttl: 300, ...extra });
const done = (group: string, id: string, extra: Record<string, unknown> = { result: { by: id } }) =>
  JSON.stringify({ id, type: 'EventGroupCollectorEntityDone', group, ...extra });

describe('collector guarantees on the real services', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  const deliver = (records: TestRecord[]) => processKafkaEvent(kafkaEvent(records), runtime);
  const outcomesOf = async (group: string) =>
    (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);

  beforeAll(async () => {
    runtime = await testRuntime();
  });
  afterAll(() => runtime.close());

  it('1. one outcome when the last two reports are applied at the same moment by two invocations', async () => {
    // Prepare
    const group = newGroupId();
    const members = ['m1', 'm2', 'm3', 'm4'];
    await deliver([
      { value: create(group, members) },
      { value: done(group, 'm1') },
      { value: done(group, 'm2') },
    ]);

    // Act: two invocations, different partitions, concurrently
    await Promise.all([
      deliver([{ partition: 1, value: done(group, 'm3') }]),
      deliver([{ partition: 2, value: done(group, 'm4') }]),
    ]);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '').results).toEqual({
      m1: { by: 'm1' },
      m2: { by: 'm2' },
      m3: { by: 'm3' },
      m4: { by: 'm4' },
    });
  });

  it('3. a repeated Create or EntityDone changes nothing', async () => {
    // Prepare
    const group = newGroupId();
    const first = await deliver([{ value: create(group, ['a', 'b']) }, { value: done(group, 'a') }]);

    // Act
    const again = await deliver([
      { value: create(group, ['a', 'b']) },
      { value: done(group, 'a') },
      { value: done(group, 'a', { result: 'a different result' }) },
    ]);
    await deliver([{ value: done(group, 'b') }]);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(first.batchItemFailures).toEqual([]);
    expect(again.batchItemFailures).toEqual([]);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '').results).toEqual({ a: { by: 'a' }, b: { by: 'b' } });
  });

  it('4. reports that arrive before their Create are kept and counted when the group arrives', async () => {
    // Prepare
    const group = newGroupId();
    await deliver([{ partition: 1, value: done(group, 'x') }]);
    await deliver([{ partition: 2, value: done(group, 'y') }]);

    // Act
    await deliver([{ value: create(group, ['x', 'y']) }]);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '')).toMatchObject({
      type: 'EventGroupCollectorSuccess',
      results: { x: { by: 'x' }, y: { by: 'y' } },
    });
  });

  it('4. an early report from a member the group does not expect is dead-lettered when the group arrives', async () => {
    // Prepare
    const group = newGroupId();
    const stranger = done(group, 'stranger');
    await deliver([
      { partition: 1, offset: 77, key: 'k-stranger', value: stranger, headers: { trace: 't-1' } },
    ]);

    // Act
    await deliver([{ value: create(group, ['x']) }]);
    const dead = (await drainTopic(runtime.settings.deadLetterTopic)).filter((m) => m.value === stranger);

    // Assess
    expect(dead).toHaveLength(1);
    expect(dead[0]?.key).toBe('k-stranger');
    expect(dead[0]?.headers).toMatchObject({
      [DLQ_HEADERS.reason]: 'member-not-expected',
      [DLQ_HEADERS.partition]: '1',
      [DLQ_HEADERS.offset]: '77',
      trace: 't-1',
    });
  });

  it('5. the first error wins; later reports change nothing', async () => {
    // Prepare
    const group = newGroupId();
    await deliver([{ value: create(group, ['a', 'b', 'c']) }, { value: done(group, 'a') }]);

    // Act
    await deliver([{ value: done(group, 'b', { error: 'first failure' }) }]);
    const late = await deliver([
      { value: done(group, 'c', { error: 'second failure' }) },
      { value: done(group, 'c') },
    ]);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(late.batchItemFailures).toEqual([]);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '')).toMatchObject({
      type: 'EventGroupCollectorFailure',
      entity: 'b',
      error: 'first failure',
      results: { a: { by: 'a' }, b: null },
    });
  });

  it('6. a bad record goes to the dead-letter topic with its bytes and reason while the batch goes on', async () => {
    // Prepare
    const group = newGroupId();
    const bad = Buffer.from('{"type":"EventGroupCollectorCreate", truncated');

    // Act
    const response = await deliver([
      { value: create(group, ['a']) },
      { partition: 0, offset: 4242, key: 'bad-key', value: bad, headers: { origin: 'test' } },
      { value: done(group, 'a') },
    ]);
    const dead = (await drainTopic(runtime.settings.deadLetterTopic)).filter(
      (m) => m.headers[DLQ_HEADERS.offset] === '4242',
    );
    const outcomes = await outcomesOf(group);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(dead).toHaveLength(1);
    expect(dead[0]?.value).toBe(bad.toString());
    expect(dead[0]?.key).toBe('bad-key');
    expect(dead[0]?.headers[DLQ_HEADERS.reason]).toBe('malformed-json');
    expect(dead[0]?.headers[DLQ_HEADERS.message]).toMatch(/not valid UTF-8 JSON/);
    expect(dead[0]?.headers[DLQ_HEADERS.topic]).toBe('eventbus-collector');
    expect(dead[0]?.headers.origin).toBe('test');
    expect(outcomes).toHaveLength(1);
  });

  it('7. a report for a group that already has an outcome is ignored as late, not taken for an unknown group', async () => {
    // Prepare
    const group = newGroupId();
    await deliver([{ value: create(group, ['a']) }, { value: done(group, 'a') }]);

    // Act
    const result = await runtime.collector.handleRecord(
      {
        origin: { topic: 't', partition: 0, offset: 1 },
        key: undefined,
        value: Buffer.from(done(group, 'a')),
        headers: [],
      },
      Date.now(),
    );
    const member = await runtime.store.readReport(group, 'zz');

    // Assess
    expect(result).toEqual({ status: 'ignored', reason: 'late' });
    expect(member).toBeUndefined();
  });

  it('outcome topic: a group may name its own replyTo topic', async () => {
    // Prepare
    const group = newGroupId();
    const replyTo = `${runtime.settings.outcomeTopic}-reply`;
    const { createTopics } = await import('#local/services/index.ts');
    const { services } = await import('../helpers/services.ts');
    await createTopics(services().brokers, [{ name: replyTo, partitions: 1 }]);

    // Act
    await deliver([{ value: create(group, ['a'], { replyTo }) }, { value: done(group, 'a') }]);
    const outcomes = (await drainTopic(replyTo)).filter((m) => m.key === group);

    // Assess
    expect(outcomes).toHaveLength(1);
    expect(await outcomesOf(group)).toHaveLength(0);
  });

  it('a report after the deadline never makes the group succeed', async () => {
    // Prepare
    const group = newGroupId();
    const now = Date.now();
    await processKafkaEvent(
      kafkaEvent([{ value: create(group, ['a', 'b'], { ttl: 5 }) }, { value: done(group, 'a') }]),
      runtime,
      () => now,
    );

    // Act: the last report is applied 6 s later (the clock is passed in)
    await processKafkaEvent(kafkaEvent([{ value: done(group, 'b') }]), runtime, () => now + 6_000);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '')).toMatchObject({
      type: 'EventGroupCollectorFailure',
      entity: group,
      error: 'Operation timed out after 5 seconds',
      results: { a: { by: 'a' } },
      missing: ['b'],
    });
  });
});

describe('8. transient faults are retried, never swallowed', () => {
  it('DynamoDB unreachable fails the invocation (or reports the records) so that the mapping retries', async () => {
    // Prepare
    const base = await testRuntime();
    const unreachable = runtimeDynamoClient({ endpoint: 'http://127.0.0.1:9', config: { maxAttempts: 1 } });
    const throwing = createRuntime({
      settings: base.settings,
      dynamo: unreachable,
      publisher: base.publisher,
      functionName: 't',
    });
    const reporting = createRuntime({
      settings: { ...base.settings, reportBatchItemFailures: true },
      dynamo: unreachable,
      publisher: base.publisher,
      functionName: 't',
    });
    throwing.logger.setLogLevel('SILENT');
    reporting.logger.setLogLevel('SILENT');
    const event = kafkaEvent([
      { topic: 'eventbus-collector', partition: 3, offset: 9, value: create('g', ['a']) },
    ]);

    // Act
    const thrown = await processKafkaEvent(event, throwing).catch((e: unknown) => e);
    const reported = await processKafkaEvent(event, reporting);

    // Assess
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).name).toBe('BatchFailedError');
    expect(reported.batchItemFailures).toEqual([
      { itemIdentifier: { partition: 'eventbus-collector-3', offset: 9 } },
    ]);
    unreachable.destroy();
    await base.close();
  });

  it('an unreachable broker fails the invocation; the redelivery publishes the stored outcome', async () => {
    // Prepare
    const base = await testRuntime();
    const deadBroker = kafkaPublisher({
      clientId: 'dead',
      brokers: ['127.0.0.1:9'],
      connectionTimeout: 300,
      retry: { retries: 0 },
    });
    const broken = createRuntime({
      settings: base.settings,
      dynamo: dynamoClient(),
      publisher: deadBroker,
      functionName: 't',
    });
    broken.logger.setLogLevel('SILENT');
    const group = newGroupId();
    const event = kafkaEvent([{ value: create(group, ['a']) }, { value: done(group, 'a') }]);

    // Act
    const failed = await processKafkaEvent(event, broken).catch((e: unknown) => e);
    const state = await base.store.getState(group);
    await processKafkaEvent(event, base);
    const outcomes = (await drainTopic(base.settings.outcomeTopic)).filter((m) => m.key === group);

    // Assess
    expect(failed).toBeInstanceOf(Error);
    expect(state?.status).toBe('succeeded');
    expect(state?.published).toBe(false);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '').type).toBe('EventGroupCollectorSuccess');
    await base.close();
  });
});
