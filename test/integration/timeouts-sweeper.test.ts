import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DLQ_HEADERS } from '#shared/config.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { sweepOnce } from '../../functions/sweeper/handler.ts';
import { drainTopic, kafkaEvent, newGroupId, testRuntime } from '../helpers/collector.ts';

const create = (id: string, expected: string[], ttl: number) =>
  JSON.stringify({ id, type: 'EventGroupCollectorCreate', expected, ttl, payload: { p: 1 } });
const done = (group: string, id: string) =>
  JSON.stringify({ id, type: 'EventGroupCollectorEntityDone', group, result: { by: id } });

describe('punctual deadlines: the sweeper', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  beforeAll(async () => {
    runtime = await testRuntime({ earlyReportWaitSeconds: 2 });
  });
  afterAll(() => runtime.close());

  it('times out a due group with what was collected and who is missing, once', async () => {
    // Prepare: ttl 3, one of three members reports
    const group = newGroupId();
    const t0 = Date.now();
    await processKafkaEvent(
      kafkaEvent([{ value: create(group, ['a', 'b', 'c'], 3) }, { value: done(group, 'a') }]),
      runtime,
      () => t0,
    );

    // Act: a sweep before the deadline does nothing; two sweeps after it decide once
    const early = await sweepOnce(runtime, () => t0 + 2_000);
    const stateBefore = await runtime.store.getState(group);
    await sweepOnce(runtime, () => t0 + 3_100);
    await sweepOnce(runtime, () => t0 + 3_600);
    const outcomes = (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);

    // Assess
    expect(early.failed).toBe(0);
    expect(stateBefore?.status).toBe('open');
    expect(outcomes).toHaveLength(1);
    const outcome = JSON.parse(outcomes[0]?.value ?? '');
    expect(outcome).toEqual({
      type: 'EventGroupCollectorFailure',
      id: group,
      entity: group,
      error: 'Operation timed out after 3 seconds',
      reason: 'timeout',
      created: new Date(t0).toISOString(),
      resolved: new Date(t0 + 3_100).toISOString(),
      results: { a: { by: 'a' } },
      missing: ['b', 'c'],
      payload: { p: 1 },
    });
    const state = await runtime.store.getState(group);
    expect(state?.status).toBe('timedout');
    expect(state?.published).toBe(true);
    // Published: the group has left the deadline index.
    expect((await runtime.store.dueEntries(t0 + 10 * 86_400_000)).some((e) => e.groupId === group)).toBe(
      false,
    );
  });

  it('a timeout racing the last report gives exactly one outcome', async () => {
    // Prepare
    const groups = Array.from({ length: 6 }, () => newGroupId());
    const t0 = Date.now();
    for (const group of groups) {
      await processKafkaEvent(
        kafkaEvent([{ value: create(group, ['a', 'b'], 1) }, { value: done(group, 'a') }]),
        runtime,
        () => t0,
      );
    }

    // Act: the last report and the sweep run at once, around the deadline
    await Promise.all([
      ...groups.map((group, i) =>
        processKafkaEvent(kafkaEvent([{ value: done(group, 'b') }]), runtime, () => t0 + 995 + i * 2),
      ),
      sweepOnce(runtime, () => t0 + 1_001),
    ]);
    await sweepOnce(runtime, () => t0 + 2_000);
    const outcomes = await drainTopic(runtime.settings.outcomeTopic);

    // Assess
    for (const group of groups) {
      const mine = outcomes.filter((m) => m.key === group);
      expect(new Set(mine.map((m) => m.value)).size).toBe(1);
      const outcome = JSON.parse(mine[0]?.value ?? '');
      if (outcome.type === 'EventGroupCollectorSuccess') {
        expect(Object.keys(outcome.results).sort()).toEqual(['a', 'b']);
      } else {
        // Issue 17 item 4: a timeout always names a member whose report was not stored before the deadline.
        expect(outcome.error).toBe('Operation timed out after 1 seconds');
        expect(outcome.missing).toEqual(['b']);
      }
    }
  });

  it('dead-letters a report whose group never arrives, with its original bytes, after the wait', async () => {
    // Prepare
    const group = newGroupId();
    const value = done(group, 'orphan');
    const t0 = Date.now();
    await processKafkaEvent(
      kafkaEvent([{ partition: 2, offset: 31, key: 'orphan-key', value, headers: { h: 'v' } }]),
      runtime,
      () => t0,
    );

    // Act
    await sweepOnce(runtime, () => t0 + 1_000);
    const kept = await runtime.store.readReport(group, 'orphan');
    await sweepOnce(runtime, () => t0 + 2_100);
    const dead = (await drainTopic(runtime.settings.deadLetterTopic)).filter((m) => m.key === 'orphan-key');

    // Assess
    expect(kept?.early).toBe(true);
    expect(dead).toHaveLength(1);
    expect(dead[0]?.value).toBe(value);
    expect(dead[0]?.headers).toMatchObject({
      [DLQ_HEADERS.reason]: 'group-never-created',
      [DLQ_HEADERS.partition]: '2',
      [DLQ_HEADERS.offset]: '31',
      h: 'v',
    });
    expect(await runtime.store.readReport(group, 'orphan')).toBeUndefined();
  });

  it("an early report of a member the group does not expect, outside the group's buckets, is dead-lettered when it expires", async () => {
    // Prepare: 'other' and 'y' hash to different member buckets, so the Create does not see 'other'
    const group = newGroupId();
    const value = done(group, 'other');
    const t0 = Date.now();
    await processKafkaEvent(kafkaEvent([{ key: 'stranger-key', value }]), runtime, () => t0);
    await processKafkaEvent(kafkaEvent([{ value: create(group, ['y'], 300) }]), runtime, () => t0 + 100);

    // Act
    await sweepOnce(runtime, () => t0 + 2_100);
    const dead = (await drainTopic(runtime.settings.deadLetterTopic)).filter((m) => m.key === 'stranger-key');

    // Assess
    expect(dead).toHaveLength(1);
    expect(dead[0]?.value).toBe(value);
    expect(dead[0]?.headers[DLQ_HEADERS.reason]).toBe('member-not-expected');
    expect(await runtime.store.readReport(group, 'other')).toBeUndefined();
    expect((await runtime.store.getState(group))?.status).toBe('open');
  });
});
