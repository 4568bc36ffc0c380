import { randomUUID } from 'node:crypto';
import { DeleteItemCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '#store/layout.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import type { RecordResult } from '../../functions/service/collector.ts';
import { sweepOnce } from '../../functions/sweeper/handler.ts';
import { processStreamEvent } from '../../functions/timeouts/handler.ts';
import { drainTopic, kafkaEvent, newGroupId, type TestRecord, testRuntime } from '../helpers/collector.ts';
import { dynamoClient, services } from '../helpers/services.ts';

const create = (id: string, expected: string[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, type: 'EventGroupCollectorCreate', expected, ttl: 2, ...extra });
const done = (group: string, id: string) =>
  JSON.stringify({ id, type: 'EventGroupCollectorEntityDone', group, result: { by: id } });
const extend = (group: string, ttl: number) =>
  JSON.stringify({ type: 'EventGroupCollectorExtend', group, ttl });

describe('Extend on the real services (issue 20)', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  const deliver = (records: TestRecord[], now: () => number) => {
    const results: RecordResult[] = [];
    return processKafkaEvent(kafkaEvent(records), runtime, now, (_, r) => {
      if (r.status === 'fulfilled') results.push(r.value);
    }).then((failures) => ({ failures, results }));
  };
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
      kafkaEvent([{ value: create(group, ['a', 'b']) }, { value: done(group, 'a') }]),
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
    const [def, member] = await Promise.all([read(keys.definition(group)), read(keys.member(group, 'a'))]);
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

const ttlRemoval = (oldImage: Record<string, unknown>): DynamoDBStreamEvent =>
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
