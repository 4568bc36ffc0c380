import { DeleteItemCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DLQ_HEADERS } from '#shared/config.ts';
import { keys } from '#store/layout.ts';
import { formatInspection, inspectGroup } from '../../functions/service/inspect.ts';
import { sweepOnce } from '../../functions/sweeper/handler.ts';
import { processStreamEvent } from '../../functions/timeouts/handler.ts';
import {
  deliverRecords,
  drainTopic,
  newGroupId,
  type TestRecord,
  testRuntime,
  ttlRemoval,
} from '../helpers/collector.ts';
import { dynamoClient, services } from '../helpers/services.ts';

const create = (id: string, expected: string[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, type: 'EventGroupCollectorCreate', expected, ttl: 300, ...extra });
const done = (group: string, id: string, extra: Record<string, unknown> = { result: { by: id } }) =>
  JSON.stringify({ id, type: 'EventGroupCollectorEntityDone', group, ...extra });
const cancel = (group: string, message?: string) =>
  JSON.stringify({ type: 'EventGroupCollectorCancel', group, ...(message === undefined ? {} : { message }) });

describe('Cancel on the real services (issue 20)', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  const deliver = (records: TestRecord[], now: () => number = Date.now) =>
    deliverRecords(runtime, records, now);
  const outcomesOf = async (group: string) =>
    (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);

  beforeAll(async () => {
    runtime = await testRuntime();
  });
  afterAll(() => runtime.close());

  it('fails an open group at once with reason cancelled, the results so far and who is missing', async () => {
    // Prepare
    const group = newGroupId();
    await deliver([{ value: create(group, ['a', 'b', 'c']) }, { value: done(group, 'a') }]);

    // Act
    const { results } = await deliver([{ value: cancel(group, 'Upload withdrawn by the user') }]);
    const outcomes = await outcomesOf(group);
    const state = await runtime.store.getState(group);

    // Assess
    expect(results).toEqual([{ status: 'accepted', action: 'cancelled' }]);
    expect(outcomes).toHaveLength(1);
    const outcome = JSON.parse(outcomes[0]?.value ?? '');
    expect(outcome).toEqual({
      type: 'EventGroupCollectorFailure',
      id: group,
      entity: group,
      error: 'Cancelled: Upload withdrawn by the user',
      reason: 'cancelled',
      created: expect.any(String),
      resolved: expect.any(String),
      results: { a: { by: 'a' } },
      missing: ['b', 'c'],
    });
    expect(state?.status).toBe('cancelled');
    expect(state?.published).toBe(true);
  });

  it('inspect shows a cancelled group as cancelled, with its outcome', async () => {
    // Prepare
    const group = newGroupId();
    await deliver([{ value: create(group, ['a', 'b']) }, { value: done(group, 'a') }]);
    await deliver([{ value: cancel(group, 'seen by inspect') }]);

    // Act
    const view = await inspectGroup(group, { tableName: services().tableName, dynamodb: dynamoClient() });

    // Assess
    expect(view).toMatchObject({ status: 'cancelled', missing: ['b'], published: true });
    expect(formatInspection(view)).toContain('Cancelled: seen by inspect');
  });

  it('without a message the error is "Cancelled"', async () => {
    // Prepare
    const group = newGroupId();
    await deliver([{ value: create(group, ['a']) }]);

    // Act
    await deliver([{ value: cancel(group) }]);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '')).toMatchObject({
      error: 'Cancelled',
      reason: 'cancelled',
      results: {},
      missing: ['a'],
    });
  });

  it('a redelivered Cancel (same record) and a second Cancel publish nothing more', async () => {
    // Prepare
    const group = newGroupId();
    await deliver([{ value: create(group, ['a', 'b']) }]);
    const record = { partition: 0, offset: 900_000_001, value: cancel(group, 'first') };
    await deliver([record]);

    // Act
    const again = await deliver([record]);
    const second = await deliver([{ value: cancel(group, 'second') }]);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(again.failures.batchItemFailures).toEqual([]);
    expect(again.results).toEqual([{ status: 'ignored', reason: 'late' }]);
    expect(second.results).toEqual([{ status: 'ignored', reason: 'late' }]);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '').error).toBe('Cancelled: first');
  });

  it('reports after a Cancel are late; a Cancel after the outcome is late', async () => {
    // Prepare
    const cancelled = newGroupId();
    const succeeded = newGroupId();
    await deliver([{ value: create(cancelled, ['a', 'b']) }, { value: create(succeeded, ['a']) }]);
    await deliver([{ value: cancel(cancelled) }, { value: done(succeeded, 'a') }]);

    // Act
    const late = await deliver([{ value: done(cancelled, 'a') }, { value: cancel(succeeded) }]);
    const [cancelledOutcomes, succeededOutcomes] = await Promise.all([
      outcomesOf(cancelled),
      outcomesOf(succeeded),
    ]);

    // Assess
    expect(late.results).toEqual([
      { status: 'ignored', reason: 'late' },
      { status: 'ignored', reason: 'late' },
    ]);
    expect(cancelledOutcomes.map((m) => JSON.parse(m.value).reason)).toEqual(['cancelled']);
    expect(succeededOutcomes.map((m) => JSON.parse(m.value).type)).toEqual(['EventGroupCollectorSuccess']);
    expect((await runtime.store.getState(succeeded))?.status).toBe('succeeded');
  });

  it('racing the last report: one outcome, the first conditional write wins and the other is late', async () => {
    for (let round = 0; round < 4; round++) {
      // Prepare
      const group = newGroupId();
      await deliver([{ value: create(group, ['a', 'b']) }, { value: done(group, 'a') }]);

      // Act: two invocations at the same moment
      const [report, cancelled] = await Promise.all([
        deliver([{ partition: 1, value: done(group, 'b') }]),
        deliver([{ partition: 2, value: cancel(group, 'race') }]),
      ]);
      const outcomes = await outcomesOf(group);
      const state = await runtime.store.getState(group);

      // Assess
      expect(outcomes).toHaveLength(1);
      const outcome = JSON.parse(outcomes[0]?.value ?? '');
      if (outcome.type === 'EventGroupCollectorSuccess') {
        expect(state?.status).toBe('succeeded');
        expect(cancelled.results).toEqual([{ status: 'ignored', reason: 'late' }]);
        expect(outcome.results).toEqual({ a: { by: 'a' }, b: { by: 'b' } });
      } else {
        expect(state?.status).toBe('cancelled');
        expect(cancelled.results).toEqual([{ status: 'accepted', action: 'cancelled' }]);
        expect(outcome).toMatchObject({ reason: 'cancelled', error: 'Cancelled: race' });
      }
      expect(report.failures.batchItemFailures).toEqual([]);
    }
  });

  it('after the deadline the timeout stands', async () => {
    // Prepare
    const group = newGroupId();
    const now = Date.now();
    await deliver([{ value: create(group, ['a', 'b'], { ttl: 5 }) }, { value: done(group, 'a') }], () => now);

    // Act: the Cancel is applied 6 s later (the clock is passed in)
    const { results } = await deliver([{ value: cancel(group) }], () => now + 6_000);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(results).toEqual([{ status: 'ignored', reason: 'late' }]);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '')).toMatchObject({
      type: 'EventGroupCollectorFailure',
      error: 'Operation timed out after 5 seconds',
      reason: 'timeout',
      results: { a: { by: 'a' } },
      missing: ['b'],
    });
    expect((await runtime.store.getState(group))?.status).toBe('timedout');
  });
});

describe('a Cancel before its group\u2019s Create (issue 20)', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  const deliver = (records: TestRecord[], now: () => number = Date.now) =>
    deliverRecords(runtime, records, now);
  const outcomesOf = async (group: string) =>
    (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);
  const deadLettersOf = async (key: string) =>
    (await drainTopic(runtime.settings.deadLetterTopic)).filter((m) => m.key === key);
  const marshalled = (key: { pk: string; sk: string }) => ({ pk: { S: key.pk }, sk: { S: key.sk } });
  const cancelItem = (group: string) =>
    dynamoClient().send(
      new GetItemCommand({
        TableName: services().tableName,
        Key: marshalled(keys.cancel(group)),
        ConsistentRead: true,
      }),
    );

  beforeAll(async () => {
    runtime = await testRuntime({ earlyReportWaitSeconds: 2 });
  });
  afterAll(() => runtime.close());

  it('is kept (a redelivery too), and the group fails as cancelled once created, with the early reports stored before it (those after it are late)', async () => {
    // Prepare
    const group = newGroupId();
    const record = { partition: 1, offset: 700_000_001, value: cancel(group, 'too soon') };
    const t0 = Date.now();
    await deliver([{ value: done(group, 'a') }], () => t0);
    const first = await deliver([record], () => t0 + 10);
    const again = await deliver([record], () => t0 + 20);
    await deliver([{ value: done(group, 'b') }], () => t0 + 30);

    // Act
    const created = await deliver([{ value: create(group, ['a', 'b']) }], () => t0 + 40);
    const outcomes = await outcomesOf(group);
    const left = await cancelItem(group);

    // Assess
    expect(first.results).toEqual([{ status: 'accepted', action: 'early' }]);
    expect(again.results).toEqual([{ status: 'accepted', action: 'duplicate-report' }]);
    expect(created.results).toEqual([{ status: 'accepted', action: 'created' }]);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '')).toMatchObject({
      type: 'EventGroupCollectorFailure',
      entity: group,
      error: 'Cancelled: too soon',
      reason: 'cancelled',
      results: { a: { by: 'a' } },
      missing: ['b'],
    });
    expect((await runtime.store.getState(group))?.status).toBe('cancelled');
    expect(left.Item).toBeUndefined();
  });

  it('with no Create within the wait, the sweeper dead-letters it group-never-created, with its original bytes', async () => {
    // Prepare
    const group = newGroupId();
    const value = cancel(group, 'orphan');
    const t0 = Date.now();
    await deliver(
      [{ partition: 2, offset: 41, key: `cancel-${group}`, value, headers: { h: 'v' } }],
      () => t0,
    );

    // Act
    await sweepOnce(runtime, () => t0 + 1_000);
    const kept = await cancelItem(group);
    await sweepOnce(runtime, () => t0 + 2_100);
    const dead = await deadLettersOf(`cancel-${group}`);

    // Assess
    expect(kept.Item?.early?.BOOL).toBe(true);
    expect(dead).toHaveLength(1);
    expect(dead[0]?.value).toBe(value);
    expect(dead[0]?.headers).toMatchObject({
      [DLQ_HEADERS.reason]: 'group-never-created',
      [DLQ_HEADERS.partition]: '2',
      [DLQ_HEADERS.offset]: '41',
      h: 'v',
    });
    expect((await cancelItem(group)).Item).toBeUndefined();
  });

  it('removed by TTL with no group: the timeouts handler dead-letters it group-never-created', async () => {
    // Prepare: the kept item, removed as DynamoDB's TTL would, its old image on the stream
    const group = newGroupId();
    const value = cancel(group);
    await deliver([{ key: `ttl-${group}`, value }]);
    const image = (await cancelItem(group)).Item ?? {};
    await dynamoClient().send(
      new DeleteItemCommand({ TableName: services().tableName, Key: marshalled(keys.cancel(group)) }),
    );

    // Act
    const failures = await processStreamEvent(ttlRemoval(image), runtime);
    const dead = await deadLettersOf(`ttl-${group}`);

    // Assess
    expect(failures.batchItemFailures).toEqual([]);
    expect(dead).toHaveLength(1);
    expect(dead[0]?.value).toBe(value);
    expect(dead[0]?.headers[DLQ_HEADERS.reason]).toBe('group-never-created');
  });

  it('racing its Create: whichever comes first, the group fails as cancelled, once', async () => {
    for (let round = 0; round < 3; round++) {
      // Prepare
      const group = newGroupId();

      // Act
      await Promise.all([
        deliver([{ partition: 1, value: cancel(group, 'race') }]),
        deliver([{ partition: 2, value: create(group, ['a']) }]),
      ]);
      const outcomes = await outcomesOf(group);

      // Assess
      expect(outcomes).toHaveLength(1);
      expect(JSON.parse(outcomes[0]?.value ?? '')).toMatchObject({ reason: 'cancelled', missing: ['a'] });
      expect((await cancelItem(group)).Item).toBeUndefined();
    }
  });
});
