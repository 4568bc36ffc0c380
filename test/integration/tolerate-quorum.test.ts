import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepOnce } from '../../functions/sweeper/handler.ts';
import {
  deliverRecords,
  drainTopic,
  newGroupId,
  type TestRecord,
  testRuntime,
} from '../helpers/collector.ts';

const create = (id: string, expected: string[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, type: 'EventGroupCollectorCreate', expected, ttl: 300, ...extra });
const done = (group: string, id: string) =>
  JSON.stringify({ id, type: 'EventGroupCollectorEntityDone', group, result: { by: id } });
const failed = (group: string, id: string) =>
  JSON.stringify({ id, type: 'EventGroupCollectorEntityDone', group, error: `${id} broke` });

describe('tolerate and quorum on the real services (issue 20)', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  const deliver = (records: TestRecord[], now: () => number = Date.now) =>
    deliverRecords(runtime, records, now);
  const outcomesOf = async (group: string) =>
    (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);

  beforeAll(async () => {
    runtime = await testRuntime();
  });
  afterAll(() => runtime.close());

  it('tolerate: the tolerated errors are listed, the group succeeds once every member reported', async () => {
    // Prepare
    const group = newGroupId();
    await deliver([{ value: create(group, ['a', 'b', 'c'], { tolerate: 1 }) }]);
    await deliver([{ value: failed(group, 'b') }]);
    await deliver([{ value: done(group, 'a') }]);

    // Act
    await deliver([{ value: done(group, 'c') }]);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '')).toEqual({
      type: 'EventGroupCollectorSuccess',
      id: group,
      created: expect.any(String),
      resolved: expect.any(String),
      results: { a: { by: 'a' }, c: { by: 'c' } },
      errors: { b: 'b broke' },
    });
    expect((await runtime.store.getState(group))?.status).toBe('succeeded');
  });

  it('tolerate: the first error beyond the tolerance fails the group with reason member-error; later reports are late', async () => {
    // Prepare
    const group = newGroupId();
    await deliver([
      { value: create(group, ['a', 'b', 'c', 'd'], { tolerate: 1 }) },
      { value: failed(group, 'a') },
    ]);
    await deliver([{ value: done(group, 'b') }]);

    // Act
    await deliver([{ value: failed(group, 'c') }]);
    const late = await deliver([{ value: done(group, 'd') }]);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(late.results).toEqual([{ status: 'ignored', reason: 'late' }]);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '')).toMatchObject({
      type: 'EventGroupCollectorFailure',
      entity: 'c',
      error: 'c broke',
      reason: 'member-error',
      results: { a: null, b: { by: 'b' }, c: null },
      errors: { a: 'a broke', c: 'c broke' },
    });
    expect((await runtime.store.getState(group))?.status).toBe('failed');
  });

  it('quorum: decided at the quorum-th success, with errors and missing; later reports are late', async () => {
    // Prepare
    const group = newGroupId();
    await deliver([
      { value: create(group, ['a', 'b', 'c', 'd'], { quorum: 2 }) },
      { value: failed(group, 'c') },
    ]);
    await deliver([{ value: done(group, 'a') }]);

    // Act
    await deliver([{ value: done(group, 'b') }]);
    const late = await deliver([{ value: done(group, 'd') }]);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(late.results).toEqual([{ status: 'ignored', reason: 'late' }]);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '')).toEqual({
      type: 'EventGroupCollectorSuccess',
      id: group,
      created: expect.any(String),
      resolved: expect.any(String),
      results: { a: { by: 'a' }, b: { by: 'b' } },
      errors: { c: 'c broke' },
      missing: ['d'],
    });
  });

  it('quorum: fails once the quorum can no longer be reached', async () => {
    // Prepare: quorum 3 of 4 tolerates one error
    const group = newGroupId();
    await deliver([
      { value: create(group, ['a', 'b', 'c', 'd'], { quorum: 3 }) },
      { value: failed(group, 'a') },
    ]);

    // Act
    await deliver([{ value: failed(group, 'b') }]);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '')).toMatchObject({
      type: 'EventGroupCollectorFailure',
      entity: 'b',
      reason: 'member-error',
      results: { a: null, b: null },
      errors: { a: 'a broke', b: 'b broke' },
    });
  });

  it('redelivered and repeated reports count once (a retried ADD is a set union)', async () => {
    // Prepare
    const group = newGroupId();
    await deliver([{ value: create(group, ['a', 'b', 'c'], { quorum: 2 }) }]);
    const record = { partition: 1, offset: 800_000_001, value: done(group, 'a') };
    await deliver([record]);

    // Act
    await deliver([record]);
    await deliver([{ value: done(group, 'a') }]);
    const before = await outcomesOf(group);
    await deliver([{ value: done(group, 'b') }]);
    const after = await outcomesOf(group);

    // Assess
    expect(before).toHaveLength(0);
    expect(after).toHaveLength(1);
    expect(JSON.parse(after[0]?.value ?? '')).toMatchObject({
      results: { a: { by: 'a' }, b: { by: 'b' } },
      missing: ['c'],
    });
  });

  it('the crossing reports applied at once by two invocations: one outcome', async () => {
    for (let round = 0; round < 4; round++) {
      // Prepare: members in different counter shards would be the hard case; here in one shard, concurrently
      const group = newGroupId();
      await deliver([
        { value: create(group, ['a', 'b', 'c', 'd'], { quorum: 2 }) },
        { value: done(group, 'a') },
      ]);

      // Act
      await Promise.all([
        deliver([{ partition: 1, value: done(group, 'b') }]),
        deliver([{ partition: 2, value: failed(group, 'c') }]),
        deliver([{ partition: 3, value: done(group, 'd') }]),
      ]);
      const outcomes = await outcomesOf(group);

      // Assess
      expect(outcomes).toHaveLength(1);
      expect(JSON.parse(outcomes[0]?.value ?? '').type).toBe('EventGroupCollectorSuccess');
    }
  });

  it('a group of more than 64 members (several counter shards) reaches its quorum across shards', async () => {
    // Prepare
    const group = newGroupId();
    const members = Array.from({ length: 130 }, (_, i) => `m${i}`);
    await deliver([{ value: create(group, members, { quorum: 3 }) }]);

    // Act: members 0, 64 and 128 live in shards 0, 1 and 2
    await Promise.all([
      deliver([{ partition: 1, value: done(group, 'm0') }]),
      deliver([{ partition: 2, value: done(group, 'm64') }]),
      deliver([{ partition: 3, value: done(group, 'm128') }]),
    ]);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '').results).toEqual({
      m0: { by: 'm0' },
      m64: { by: 'm64' },
      m128: { by: 'm128' },
    });
  });

  it('at the deadline: what was stored before it decides (tolerated errors do not fail it)', async () => {
    // Prepare
    const group = newGroupId();
    const t0 = Date.now();
    await deliver(
      [{ value: create(group, ['a', 'b', 'c'], { ttl: 2, tolerate: 1 }) }, { value: failed(group, 'a') }],
      () => t0,
    );

    // Act
    await sweepOnce(runtime, () => t0 + 2_500);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '')).toMatchObject({
      type: 'EventGroupCollectorFailure',
      entity: group,
      error: 'Operation timed out after 2 seconds',
      reason: 'timeout',
      results: { a: null },
      errors: { a: 'a broke' },
      missing: ['b', 'c'],
    });
  });
});
