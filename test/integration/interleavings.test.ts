import { DeleteCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DLQ_HEADERS, EVENT_TYPES } from '#shared/config.ts';
import { keys } from '#store/layout.ts';
import { sweepOnce } from '../../functions/sweeper/handler.ts';
import {
  deliverRecords,
  drainTopic,
  newGroupId,
  type TestRecord,
  testRuntime,
} from '../helpers/collector.ts';
import { calls, pauses } from '../helpers/pauses.ts';

/**
 * Targeted interleavings of two invocations, the sweeper and the stream handler on the real services:
 * each schedule holds one call of one operation at an exact point while another runs (DESIGN.md,
 * "Invariants", names which invariant each checks). Every case failed on the code before its fix.
 */
const SMALL = ['a', 'b'];
const LARGER = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
const LAYOUTS = [
  ['a small group (one item)', SMALL],
  ['a larger group', LARGER],
] as const;

const create = (group: string, expected: readonly string[], ttl = 600) =>
  JSON.stringify({ id: group, type: EVENT_TYPES.create, expected, ttl });
const done = (group: string, id: string, extra: Record<string, unknown> = { result: { by: id } }) =>
  JSON.stringify({ id, type: EVENT_TYPES.done, group, ...extra });
const cancel = (group: string) => JSON.stringify({ type: 'EventGroupCollectorCancel', group });
const cancelWith = (group: string, message: string) =>
  JSON.stringify({ type: 'EventGroupCollectorCancel', group, message });
const extend = (group: string, ttl: number) =>
  JSON.stringify({ type: 'EventGroupCollectorExtend', group, ttl });

describe('targeted interleavings on the real services', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  let hold: ReturnType<typeof pauses>;
  let offset = 900_000_000;
  /** One record, on its own partition and offset (a redelivery reuses the record). */
  const record = (value: string, partition = 0): TestRecord => ({ partition, offset: offset++, value });
  const deliver = (records: TestRecord[], now: () => number = Date.now) =>
    deliverRecords(runtime, records, now);
  const outcomesOf = async (group: string) =>
    (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);

  beforeAll(async () => {
    runtime = await testRuntime({ earlyReportWaitSeconds: 60 });
    hold = pauses(runtime.store.doc);
  });
  afterAll(() => runtime.close());

  it.each(LAYOUTS)(
    '%s: a member’s first report, kept early while the Create is being written, is not overtaken by its second (invariant 4)',
    async (_, members) => {
      // Prepare: the Create is held before its write, then after it
      const group = newGroupId();
      const beforeWrite = hold.hold('before', calls.createWrite);
      const afterWrite = hold.hold('after', calls.createWrite);
      const creating = deliver([record(create(group, members), 2)]);

      // Act: a's first report (an error) while the Create waits to write; a's second (a success) once
      // STATE is written but before the Create looked for early events; then everyone else
      await beforeWrite.reached;
      const first = await deliver([record(done(group, 'a', { error: 'first report: boom' }), 1)]);
      beforeWrite.release();
      await afterWrite.reached;
      await deliver([record(done(group, 'a', { result: { second: true } }), 1)]);
      afterWrite.release();
      await creating;
      await deliver(members.slice(1).map((m) => record(done(group, m), 1)));
      const outcomes = await outcomesOf(group);

      // Assess: a's first report decides (first report wins, first error wins)
      expect(first.results).toEqual([{ status: 'accepted', action: 'early' }]);
      expect(outcomes).toHaveLength(1);
      expect(JSON.parse(outcomes[0]?.value ?? '{}')).toMatchObject({
        type: EVENT_TYPES.failure,
        reason: 'member-error',
        entity: 'a',
        error: 'first report: boom',
      });
    },
  );

  it.each(LAYOUTS)(
    '%s: a report judged past the deadline while an Extend stored before it lands is counted, not dropped (invariant 3)',
    async (_, members) => {
      // Prepare: created with ttl 3 s (deadline D0); b's first call on STATE is held after it returned
      const group = newGroupId();
      const t0 = Date.now();
      const d0 = t0 + 3_000;
      await deliver([record(create(group, members, 3))], () => t0);
      const held = hold.hold('after', calls.stateCall);
      const reporting = deliver([record(done(group, 'b'), 1)], () => d0 + 50);

      // Act: an Extend stored at D0 − 100 ms lands while b is held; then b goes on; then the others
      await held.reached;
      const extended = await deliver([record(extend(group, 60), 2)], () => d0 - 100);
      held.release();
      const b = await reporting;
      const rest = members.filter((m) => m !== 'b');
      await deliver(
        rest.map((m) => record(done(group, m), 1)),
        () => d0 + 100,
      );
      const outcomes = await outcomesOf(group);

      // Assess: the Extend came first in recording order, so b counts and the group succeeds
      expect(extended.results).toEqual([{ status: 'accepted', action: 'extended' }]);
      expect(b.results).toEqual([{ status: 'accepted', action: 'reported' }]);
      expect(outcomes).toHaveLength(1);
      expect(JSON.parse(outcomes[0]?.value ?? '{}')).toMatchObject({ type: EVENT_TYPES.success });
    },
  );

  it.each(LAYOUTS)(
    '%s: a Cancel judged past the deadline while an Extend stored before it lands cancels the group, not vanishes (invariant 3)',
    async (_, members) => {
      // Prepare: created with ttl 3 s (deadline D0); the Cancel is held after its second read of STATE
      const group = newGroupId();
      const t0 = Date.now();
      const d0 = t0 + 3_000;
      await deliver([record(create(group, members, 3))], () => t0);
      await deliver([record(done(group, 'a'), 1)], () => t0 + 100);
      const firstRead = hold.hold('after', calls.stateRead);
      const cancelling = deliver([record(cancel(group), 3)], () => d0 + 50);
      await firstRead.reached;
      const secondRead = hold.hold('after', calls.stateRead);
      firstRead.release();

      // Act: an Extend stored at D0 − 100 ms lands while the Cancel is held; then the Cancel goes on
      await secondRead.reached;
      const extended = await deliver([record(extend(group, 60), 2)], () => d0 - 100);
      secondRead.release();
      const cancelled = await cancelling;
      const outcomes = await outcomesOf(group);

      // Assess: the Extend came first in recording order, so the Cancel decides
      expect(extended.results).toEqual([{ status: 'accepted', action: 'extended' }]);
      expect(cancelled.results).toEqual([{ status: 'accepted', action: 'cancelled' }]);
      expect(outcomes).toHaveLength(1);
      expect(JSON.parse(outcomes[0]?.value ?? '{}')).toMatchObject({ reason: 'cancelled' });
    },
  );

  it.each(LAYOUTS)(
    '%s: an Extend whose write landed before the deadline but whose reply was lost is in force when redelivered after it (invariant 3)',
    async (_, members) => {
      // Prepare: deadline D0 = t0 + 3 s; the Extend's STATE write applies but its reply is lost
      const group = newGroupId();
      const t0 = Date.now();
      const d0 = t0 + 3_000;
      await deliver([record(create(group, members, 3))], () => t0);
      hold.fail(calls.deadlineMove, true);
      const extendRecord = record(extend(group, 60), 2);
      const first = await deliver([extendRecord], () => d0 - 500).then(
        () => 'succeeded',
        () => 'failed',
      );

      // Act: redelivered after D0, then everyone reports after D0 too
      const again = await deliver([extendRecord], () => d0 + 100);
      await deliver(
        members.map((m) => record(done(group, m), 1)),
        () => d0 + 200,
      );
      const outcomes = await outcomesOf(group);

      // Assess
      expect(first).toBe('failed');
      expect(again.results).toEqual([{ status: 'accepted', action: 'extended' }]);
      expect(outcomes).toHaveLength(1);
      expect(JSON.parse(outcomes[0]?.value ?? '{}')).toMatchObject({ type: EVENT_TYPES.success });
    },
  );

  it.each(LAYOUTS)(
    '%s: an Extend that failed before it was stored and is redelivered after the deadline is late, and nothing records it as stored (invariant 3)',
    async (_, members) => {
      // Prepare: deadline D0 = t0 + 3 s; the Extend's first attempt at D0 − 500 ms fails transiently
      const group = newGroupId();
      const t0 = Date.now();
      const d0 = t0 + 3_000;
      await deliver([record(create(group, members, 3))], () => t0);
      hold.fail(calls.deadlineMove);
      const extendRecord = record(extend(group, 60), 2);
      const first = await deliver([extendRecord], () => d0 - 500).then(
        () => 'succeeded',
        () => 'failed',
      );

      // Act: redelivered after D0
      const again = await deliver([extendRecord], () => d0 + 100);
      const outcomes = await outcomesOf(group);
      const stored = await storedExtendTimes(group);

      // Assess: timed out at D0, and no Extend is recorded with a time before D0 (it would be in force)
      expect(first).toBe('failed');
      expect(again.results).toEqual([{ status: 'ignored', reason: 'late' }]);
      expect(outcomes).toHaveLength(1);
      expect(JSON.parse(outcomes[0]?.value ?? '{}')).toMatchObject({ reason: 'timeout' });
      expect(stored.filter((at) => at < d0)).toEqual([]);
    },
  );

  it.each(LAYOUTS)(
    '%s: an early report dead-lettered by its expiry is not counted by a Create that comes before the copy is deleted (invariant 5)',
    async (_, members) => {
      // Prepare: a reports before its group exists; its expiry is held after the dead letter, before the delete
      const group = newGroupId();
      const t0 = Date.now();
      await deliver([record(done(group, 'a'), 1)], () => t0);
      const beforeDelete = hold.hold(
        'before',
        (command, input) =>
          calls.earlyDelete(command, input) && String((input.Key as { pk?: string }).pk).includes(group),
      );
      const sweeping = sweepOnce(runtime, () => t0 + 61_000);

      // Act: the Create arrives, then b fails, while the dead-lettered copy still exists
      await beforeDelete.reached;
      await deliver([record(create(group, members), 2)], () => t0 + 61_000);
      await deliver([record(done(group, 'b', { error: 'b failed' }), 1)], () => t0 + 61_100);
      beforeDelete.release();
      await sweeping;
      const outcomes = await outcomesOf(group);
      const deadLetters = (await drainTopic(runtime.settings.deadLetterTopic)).filter((m) =>
        m.value.includes(group),
      );

      // Assess: a is dead-lettered, so it is not among the results
      expect(deadLetters).toHaveLength(1);
      expect(deadLetters[0]?.headers[DLQ_HEADERS.reason]).toBe('group-never-created');
      expect(outcomes).toHaveLength(1);
      const outcome = JSON.parse(outcomes[0]?.value ?? '{}');
      expect(outcome).toMatchObject({ reason: 'member-error', entity: 'b' });
      expect(Object.keys(outcome.results)).not.toContain('a');
    },
  );

  it.each(LAYOUTS)(
    '%s: a second Cancel during the Create does not overtake the Cancel kept before it (invariant 4)',
    async (_, members) => {
      // Prepare: Cancel X kept before the Create; the Create is held after its write, before it applies X
      const group = newGroupId();
      await deliver([record(cancelWith(group, 'first'), 1)]);
      const afterWrite = hold.hold('after', calls.createWrite);
      const creating = deliver([record(create(group, members), 2)]);
      await afterWrite.reached;

      // Act: Cancel Y arrives while the Create has not applied X yet
      await deliver([record(cancelWith(group, 'second'), 3)]).catch(() => undefined);
      afterWrite.release();
      await creating;
      const outcomes = await outcomesOf(group);

      // Assess: X, recorded first, decided with its message
      expect(outcomes).toHaveLength(1);
      expect(JSON.parse(outcomes[0]?.value ?? '{}')).toMatchObject({
        reason: 'cancelled',
        error: 'Cancelled: first',
      });
    },
  );

  // A larger group only: a small group's decision still reads early copies not yet adopted (DESIGN.md, invariant 5).
  it.each(LAYOUTS.slice(1))(
    '%s: reports kept before an early Cancel count in its outcome; one kept after it does not (recording order)',
    async (_, members) => {
      // Prepare: a reports, then the Cancel, then b reports, all before the Create
      const group = newGroupId();
      const t0 = Date.now();
      await deliver([record(done(group, 'a'), 1)], () => t0);
      await deliver([record(cancelWith(group, 'stop'), 1)], () => t0 + 10);
      await deliver([record(done(group, 'b'), 1)], () => t0 + 20);

      // Act
      await deliver([record(create(group, members), 2)], () => t0 + 30);
      const outcomes = await outcomesOf(group);

      // Assess
      expect(outcomes).toHaveLength(1);
      const outcome = JSON.parse(outcomes[0]?.value ?? '{}');
      expect(outcome).toMatchObject({ reason: 'cancelled', error: 'Cancelled: stop' });
      expect(Object.keys(outcome.results)).toEqual(['a']);
    },
  );

  it.each(LAYOUTS)(
    '%s: a warm environment whose cached definition is an earlier group of the same id counts reports for the group that exists now',
    async (_, members) => {
      // Prepare: this environment caches the first group; another environment sees that group's
      // state removed (its retention over) and the id created again with other members
      const group = newGroupId();
      await deliver([record(create(group, members))]);
      const other = await testRuntime({
        earlyReportWaitSeconds: 60,
        outcomeTopic: runtime.settings.outcomeTopic,
      });
      await other.store.doc.send(
        new DeleteCommand({ TableName: other.settings.tableName, Key: keys.state(group) }),
      );
      await other.store.doc.send(
        new DeleteCommand({ TableName: other.settings.tableName, Key: keys.definition(group) }),
      );
      const renamed = members.map((m) => `${m}-2`);
      await deliverRecords(other, [record(create(group, renamed))]);
      await other.close();

      // Act: the new group's members report through this environment (first one may be retried once)
      const first = await deliver([record(done(group, renamed[0] as string), 1)]).catch(() => undefined);
      if (!first || first.failures.batchItemFailures.length > 0) {
        await deliver([record(done(group, renamed[0] as string), 1)]);
      }
      await deliver(renamed.slice(1).map((m) => record(done(group, m), 1)));
      const outcomes = await outcomesOf(group);

      // Assess: one success with the new members' results
      expect(outcomes).toHaveLength(1);
      expect(Object.keys(JSON.parse(outcomes[0]?.value ?? '{}').results).sort()).toEqual([...renamed].sort());
    },
  );

  /** Every stored time of an Extend of the group, wherever a version of the store kept one. */
  async function storedExtendTimes(group: string): Promise<number[]> {
    const state = await runtime.store.getState(group);
    const inState = Object.values(state?.extendedAt ?? {});
    const out = await runtime.store.doc.send(
      new QueryCommand({
        TableName: runtime.settings.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :cmd)',
        ExpressionAttributeValues: { ':pk': keys.state(group).pk, ':cmd': 'CMD#extend#' },
        ConsistentRead: true,
      }),
    );
    return [...inState, ...(out.Items ?? []).map((i) => Number(i.atMs))];
  }
});
