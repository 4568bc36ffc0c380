import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '#shared/config.ts';
import { deliverRecords, drainTopic, newGroupId, type TestRecord, testRuntime } from '../helpers/collector.ts';
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
const extend = (group: string, ttl: number) => JSON.stringify({ type: 'EventGroupCollectorExtend', group, ttl });

describe('targeted interleavings on the real services', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  let hold: ReturnType<typeof pauses>;
  let offset = 900_000_000;
  /** One record, on its own partition and offset (a redelivery reuses the record). */
  const record = (value: string, partition = 0): TestRecord => ({ partition, offset: offset++, value });
  const deliver = (records: TestRecord[], now: () => number = Date.now) => deliverRecords(runtime, records, now);
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
});
