import { DeleteItemCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DLQ_HEADERS } from '#shared/config.ts';
import { keys, pageKey, pagePartitions } from '#store/layout.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { sweepOnce } from '../../functions/sweeper/handler.ts';
import { processStreamEvent } from '../../functions/timeouts/handler.ts';
import {
  deliverRecords,
  drainTopic,
  kafkaEvent,
  newGroupId,
  type TestRecord,
  testRuntime,
  ttlRemoval,
} from '../helpers/collector.ts';
import { dynamoClient, services } from '../helpers/services.ts';

const create = (id: string, expected: string[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, type: 'EventGroupCollectorCreate', expected, ttl: 2, ...extra });
const done = (group: string, id: string) =>
  JSON.stringify({ id, type: 'EventGroupCollectorEntityDone', group, result: { by: id } });
const extend = (group: string, ttl: number) =>
  JSON.stringify({ type: 'EventGroupCollectorExtend', group, ttl });

describe('Extend on the real services (issue 20)', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  const deliver = (records: TestRecord[], now: () => number = Date.now) =>
    deliverRecords(runtime, records, now);
  const outcomesOf = async (group: string) =>
    (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);

  beforeAll(async () => {
    runtime = await testRuntime({ maxTtlSeconds: 20 });
  });
  afterAll(() => runtime.close());

  it('keeps a group\u2019s data for the retention after the latest deadline an Extend could reach, not only after the first', async () => {
    // Prepare: a 2 s group where an Extend may take it to 3 days after its creation (more than the 1-day margin)
    const longLived = await testRuntime({ maxTtlSeconds: 3 * 86_400 });
    const group = newGroupId();
    const t0 = Date.now();
    await processKafkaEvent(
      // Nine members: a group too large for one item (LAYOUT.single) keeps its DEF and report pages apart.
      kafkaEvent([
        { value: create(group, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']) },
        // Two reports handled at once share a page (a lone small one would go into STATE's tail).
        { value: done(group, 'a') },
        { value: done(group, 'b') },
      ]),
      longLived,
      () => t0,
    );
    await longLived.close();
    const client = dynamoClient();

    // Act
    const read = (key: { pk: string; sk: string }) =>
      client.send(
        new GetItemCommand({
          TableName: services().tableName,
          Key: { pk: { S: key.pk }, sk: { S: key.sk } },
          ConsistentRead: true,
        }),
      );
    // a's and b's reports are in the group's first page.
    const [def, member] = await Promise.all([
      read(keys.definition(group)),
      read(pageKey(group, t0, 0, pagePartitions(9))),
    ]);
    client.destroy();

    // Assess: past the latest reachable deadline (t0 + 3 days) by the retention
    const floor = Math.floor((t0 + 3 * 86_400_000) / 1000) + longLived.settings.retentionSeconds;
    expect(Number(def.Item?.expiresAt?.N)).toBeGreaterThanOrEqual(floor);
    expect(Number(member.Item?.expiresAt?.N)).toBeGreaterThanOrEqual(floor);
  });

  it('moves the deadline: a report after the Create\u2019s deadline still counts, the sweeper waits for the new one', async () => {
    // Prepare
    const group = newGroupId();
    const t0 = Date.now();
    await deliver([{ value: create(group, ['a', 'b']) }, { value: done(group, 'a') }], () => t0);

    // Act: at +1 s the deadline moves to +6 s; the sweeper at +3 s finds nothing due; b reports at +4 s
    const extended = await deliver([{ value: extend(group, 5) }], () => t0 + 1_000);
    await sweepOnce(runtime, () => t0 + 3_000);
    const before = await outcomesOf(group);
    await deliver([{ value: done(group, 'b') }], () => t0 + 4_000);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(extended.results).toEqual([{ status: 'accepted', action: 'extended' }]);
    expect(before).toHaveLength(0);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '')).toMatchObject({
      type: 'EventGroupCollectorSuccess',
      results: { a: { by: 'a' }, b: { by: 'b' } },
    });
  });

  it('an extended group times out at its new deadline, naming how long it was open; a redelivered Extend changes nothing', async () => {
    // Prepare
    const group = newGroupId();
    const t0 = Date.now();
    await deliver([{ value: create(group, ['a', 'b']) }, { value: done(group, 'a') }], () => t0);
    const record = { partition: 1, offset: 600_000_001, value: extend(group, 3) };
    await deliver([record], () => t0 + 1_000);

    // Act: the redelivery, 500 ms later, finds the record's first stored time
    const again = await deliver([record], () => t0 + 1_500);
    const state = await runtime.store.getState(group);
    await sweepOnce(runtime, () => t0 + 4_100);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(again.results).toEqual([{ status: 'accepted', action: 'extended' }]);
    expect(state?.deadlineMs).toBe(t0 + 4_000);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '')).toMatchObject({
      type: 'EventGroupCollectorFailure',
      error: 'Operation timed out after 4 seconds',
      reason: 'timeout',
      results: { a: { by: 'a' } },
      missing: ['b'],
    });
  });

  it('never beyond the maximum ttl from creation; never shorter', async () => {
    // Prepare
    const group = newGroupId();
    const t0 = Date.now();
    await deliver([{ value: create(group, ['a'], { ttl: 10 }) }], () => t0);

    // Act
    await deliver([{ value: extend(group, 1) }], () => t0 + 1_000);
    const shorter = await runtime.store.getState(group);
    await deliver([{ value: extend(group, 20) }], () => t0 + 5_000);
    const capped = await runtime.store.getState(group);

    // Assess
    expect(shorter?.deadlineMs).toBe(t0 + 10_000);
    expect(capped?.deadlineMs).toBe(t0 + 20_000);
  });

  it('at or after the deadline an Extend is late: the timeout stands', async () => {
    // Prepare
    const group = newGroupId();
    const t0 = Date.now();
    await deliver([{ value: create(group, ['a', 'b']) }, { value: done(group, 'a') }], () => t0);

    // Act
    const { results } = await deliver([{ value: extend(group, 5) }], () => t0 + 2_000);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(results).toEqual([{ status: 'ignored', reason: 'late' }]);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '')).toMatchObject({
      error: 'Operation timed out after 2 seconds',
      missing: ['b'],
    });
  });

  it('the TTL path times out an extended group under the removed STATE\u2019s deadline', async () => {
    // Prepare: extended to +6 s; its STATE removed as DynamoDB's TTL would, its old image on the stream
    const group = newGroupId();
    const t0 = Date.now();
    await deliver([{ value: create(group, ['a', 'b']) }], () => t0);
    await deliver([{ value: extend(group, 5) }], () => t0 + 1_000);
    await deliver([{ value: done(group, 'a') }], () => t0 + 4_000);
    const key = keys.state(group);
    const marshalled = { pk: { S: key.pk }, sk: { S: key.sk } };
    const image = (
      await dynamoClient().send(
        new GetItemCommand({ TableName: services().tableName, Key: marshalled, ConsistentRead: true }),
      )
    ).Item;
    await dynamoClient().send(new DeleteItemCommand({ TableName: services().tableName, Key: marshalled }));

    // Act
    const failures = await processStreamEvent(ttlRemoval(image ?? {}), runtime, () => t0 + 6_500);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(failures.batchItemFailures).toEqual([]);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '')).toMatchObject({
      error: 'Operation timed out after 6 seconds',
      results: { a: { by: 'a' } },
      missing: ['b'],
    });
  });

  it('racing the last report: one outcome, whichever write comes first', async () => {
    for (let round = 0; round < 4; round++) {
      // Prepare
      const group = newGroupId();
      const t0 = Date.now();
      await deliver(
        [{ value: create(group, ['a', 'b'], { ttl: 5 }) }, { value: done(group, 'a') }],
        () => t0,
      );

      // Act
      const [report, extended] = await Promise.all([
        deliver([{ partition: 1, value: done(group, 'b') }], () => t0 + 1_000),
        deliver([{ partition: 2, value: extend(group, 10) }], () => t0 + 1_000),
      ]);
      const outcomes = await outcomesOf(group);

      // Assess: the success stands; the Extend either moved the deadline first or found the group decided
      expect(report.failures.batchItemFailures).toEqual([]);
      expect(extended.failures.batchItemFailures).toEqual([]);
      expect(outcomes).toHaveLength(1);
      expect(JSON.parse(outcomes[0]?.value ?? '').type).toBe('EventGroupCollectorSuccess');
    }
  });

  it('a quorum group extended: its counted decision is made under the new deadline', async () => {
    // Prepare
    const group = newGroupId();
    const t0 = Date.now();
    await deliver(
      [{ value: create(group, ['a', 'b', 'c'], { quorum: 2 }) }, { value: done(group, 'a') }],
      () => t0,
    );
    await deliver([{ value: extend(group, 5) }], () => t0 + 1_000);

    // Act: b reports after the Create's deadline, before the extended one
    await deliver([{ value: done(group, 'b') }], () => t0 + 3_000);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '')).toMatchObject({
      type: 'EventGroupCollectorSuccess',
      results: { a: { by: 'a' }, b: { by: 'b' } },
      missing: ['c'],
    });
  });
});

describe('an Extend before its group\u2019s Create (issue 20)', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  const deliver = (records: TestRecord[], now: () => number = Date.now) =>
    deliverRecords(runtime, records, now);
  const outcomesOf = async (group: string) =>
    (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);
  const deadLettersOf = async (key: string) =>
    (await drainTopic(runtime.settings.deadLetterTopic)).filter((m) => m.key === key);
  const marshalled = (key: { pk: string; sk: string }) => ({ pk: { S: key.pk }, sk: { S: key.sk } });
  const itemAt = (key: { pk: string; sk: string }) =>
    dynamoClient().send(
      new GetItemCommand({ TableName: services().tableName, Key: marshalled(key), ConsistentRead: true }),
    );
  const origin = (partition: number, offset: number) => `eventbus-collector:${partition}:${offset}`;

  beforeAll(async () => {
    runtime = await testRuntime({ earlyReportWaitSeconds: 2, maxTtlSeconds: 20 });
  });
  afterAll(() => runtime.close());

  it('is kept (each record once, a redelivery not counted again) and the Create applies it from its first stored time', async () => {
    // Prepare: two Extends before the Create, the first one redelivered
    const group = newGroupId();
    const t0 = Date.now();
    const first = { partition: 1, offset: 800_000_001, value: extend(group, 5) };
    const second = { partition: 1, offset: 800_000_002, value: extend(group, 3) };
    const kept = await deliver([first, second], () => t0);
    const again = await deliver([first], () => t0 + 500);
    const count = await itemAt(keys.state(group));

    // Act: created at +1 s with ttl 2 (deadline +3 s); the first Extend reaches +5 s
    const created = await deliver([{ value: create(group, ['a', 'b']) }], () => t0 + 1_000);
    const state = await runtime.store.getState(group);
    const adopted = await itemAt(keys.extend(group, origin(1, 800_000_001)));
    await sweepOnce(runtime, () => t0 + 3_100);
    const atOldDeadline = await outcomesOf(group);
    await sweepOnce(runtime, () => t0 + 5_100);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(kept.results).toEqual([
      { status: 'accepted', action: 'early' },
      { status: 'accepted', action: 'early' },
    ]);
    expect(again.results).toEqual([{ status: 'accepted', action: 'duplicate-report' }]);
    expect(count.Item?.earlyN?.N).toBe('2');
    expect(created.results).toEqual([{ status: 'accepted', action: 'created' }]);
    expect(state?.deadlineMs).toBe(t0 + 5_000);
    // Applied: its origin and first stored time live in STATE; the early item is gone.
    expect(state?.extendedAt?.[origin(1, 800_000_001)]).toBe(t0);
    expect(adopted.Item).toBeUndefined();
    expect(atOldDeadline).toHaveLength(0);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '')).toMatchObject({
      type: 'EventGroupCollectorFailure',
      reason: 'timeout',
      missing: ['a', 'b'],
    });
  });

  it('applied, a redelivery after the Create extends from its first stored time again (no change)', async () => {
    // Prepare
    const group = newGroupId();
    const t0 = Date.now();
    const record = { partition: 2, offset: 800_000_003, value: extend(group, 4) };
    await deliver([record], () => t0);
    await deliver([{ value: create(group, ['a']) }], () => t0 + 500);

    // Act
    const again = await deliver([record], () => t0 + 1_500);
    const state = await runtime.store.getState(group);

    // Assess
    expect(again.results).toEqual([{ status: 'accepted', action: 'extended' }]);
    expect(state?.deadlineMs).toBe(t0 + 4_000);
  });

  it('with no Create within the wait, the sweeper dead-letters it group-never-created, with its original bytes', async () => {
    // Prepare
    const group = newGroupId();
    const value = extend(group, 5);
    const t0 = Date.now();
    await deliver(
      [{ partition: 2, offset: 51, key: `extend-${group}`, value, headers: { h: 'v' } }],
      () => t0,
    );
    const key = keys.extend(group, origin(2, 51));

    // Act
    await sweepOnce(runtime, () => t0 + 1_000);
    const kept = await itemAt(key);
    await sweepOnce(runtime, () => t0 + 2_100);
    const dead = await deadLettersOf(`extend-${group}`);

    // Assess
    expect(kept.Item?.early?.BOOL).toBe(true);
    expect(dead).toHaveLength(1);
    expect(dead[0]?.value).toBe(value);
    expect(dead[0]?.headers).toMatchObject({
      [DLQ_HEADERS.reason]: 'group-never-created',
      [DLQ_HEADERS.partition]: '2',
      [DLQ_HEADERS.offset]: '51',
      h: 'v',
    });
    expect((await itemAt(key)).Item).toBeUndefined();
  });

  it('removed by TTL with no group: the timeouts handler dead-letters it group-never-created', async () => {
    // Prepare: the kept item, removed as DynamoDB's TTL would, its old image on the stream
    const group = newGroupId();
    const value = extend(group, 5);
    await deliver([{ partition: 3, offset: 52, key: `ttl-${group}`, value }]);
    const key = keys.extend(group, origin(3, 52));
    const image = (await itemAt(key)).Item ?? {};
    await dynamoClient().send(
      new DeleteItemCommand({ TableName: services().tableName, Key: marshalled(key) }),
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

  it('its wait over after a Create that did not adopt it: the sweeper applies it to the group', async () => {
    // Prepare: the Extend kept, then the group created without adopting it (a Create interrupted)
    const group = newGroupId();
    const t0 = Date.now();
    await deliver([{ partition: 3, offset: 53, value: extend(group, 6) }], () => t0);
    await runtime.store.createGroup({
      definition: { id: group, expected: ['a'], ttlSeconds: 4, payload: undefined, replyTo: undefined },
      defHash: 'h',
      outcomeTopic: runtime.settings.outcomeTopic,
      createdMs: t0 + 500,
      deadlineMs: t0 + 4_500,
    });

    // Act: the Extend's wait ends at +2 s
    await sweepOnce(runtime, () => t0 + 2_100);
    const state = await runtime.store.getState(group);
    const left = await itemAt(keys.extend(group, origin(3, 53)));

    // Assess
    expect(state?.deadlineMs).toBe(t0 + 6_000);
    expect(left.Item?.early).toBeUndefined();
  });

  it('racing its Create: whichever comes first, the group\u2019s deadline is the extended one', async () => {
    for (let round = 0; round < 3; round++) {
      // Prepare
      const group = newGroupId();
      const offset = 800_000_100 + round;

      // Act
      await Promise.all([
        deliver([{ partition: 1, offset, value: extend(group, 10) }]),
        deliver([{ partition: 2, value: create(group, ['a']) }]),
      ]);
      const state = await runtime.store.getState(group);
      const left = await itemAt(keys.extend(group, origin(1, offset)));

      // Assess
      expect(state).toBeDefined();
      expect((state?.deadlineMs ?? 0) - (state?.createdMs ?? 0)).toBeGreaterThan(8_000);
      expect(left.Item?.early).toBeUndefined();
    }
  });
});
