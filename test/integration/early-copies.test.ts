import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '#shared/config.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { drainTopic, kafkaEvent, newGroupId, testRuntime } from '../helpers/collector.ts';

/**
 * Issue 21 review: reports kept straight in STATE (small groups) or a counter shard (larger ones) must
 * not overtake a member's first report when that one is an early copy in its member item, nor lose the
 * text of an error kept in a member item. Each case failed on the code before the fix (found by an
 * adversarial review, 2026-12-03).
 */
describe('early copies and referenced errors under the shared layouts', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  let failNext: ((input: Record<string, unknown>, command: string) => boolean) | undefined;
  beforeAll(async () => {
    runtime = await testRuntime();
    runtime.store.doc.middlewareStack.add(
      (next, context) => async (args) => {
        const fail = failNext;
        if (fail?.(args.input as Record<string, unknown>, String(context.commandName))) {
          failNext = undefined;
          throw new Error('injected transient fault');
        }
        return next(args);
      },
      { step: 'initialize', name: 'injectOnce' },
    );
  });
  afterAll(() => runtime.close());

  const create = (group: string, expected: string[]) => ({
    value: JSON.stringify({ id: group, type: EVENT_TYPES.create, expected, ttl: 600 }),
  });
  const done = (group: string, id: string, extra: Record<string, unknown> = { result: { id } }) => ({
    value: JSON.stringify({ id, type: EVENT_TYPES.done, group, ...extra }),
  });
  const outcomesOf = async (group: string) =>
    (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);
  const keyOf = (input: Record<string, unknown>) => (input.Key as { sk?: string } | undefined)?.sk;
  /** The Create's claim of a's early copy for adoption (after STATE was written). */
  const adoptionOfA = (input: Record<string, unknown>, command: string) =>
    command === 'UpdateItemCommand' &&
    keyOf(input) === 'M#a' &&
    String(input.UpdateExpression).includes('#claim');

  it.each([
    ['a small group (one item)', ['a', 'b']],
    ['a larger group (counter shards)', ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']],
  ])(
    '%s: an early error stays the first report when the Create crashes before adopting it and a success of the same member comes first',
    async (_, members) => {
      // Prepare: a's first report, an error, is kept before the Create; the Create fails after writing STATE
      const group = newGroupId();
      await processKafkaEvent(kafkaEvent([done(group, 'a', { error: 'boom' })]), runtime);
      failNext = adoptionOfA;
      const createEvent = kafkaEvent([create(group, members)]);
      const crashed = await processKafkaEvent(createEvent, runtime).then(
        (r) => r.batchItemFailures.length > 0,
        () => true,
      );

      // Act: a success of a, then the redelivered Create, then everyone else
      await processKafkaEvent(kafkaEvent([done(group, 'a', { result: { second: true } })]), runtime);
      await processKafkaEvent(createEvent, runtime);
      await processKafkaEvent(kafkaEvent(members.slice(1).map((m) => done(group, m))), runtime);
      const outcomes = await outcomesOf(group);

      // Assess: a's first report decides (first report wins, first error wins)
      expect(crashed).toBe(true);
      expect(outcomes).toHaveLength(1);
      expect(JSON.parse(outcomes[0]?.value ?? '{}')).toMatchObject({
        type: EVENT_TYPES.failure,
        entity: 'a',
        error: 'boom',
      });
    },
  );

  it('a larger group: a member error kept in its member item is published with its text, whatever report of the member decides', async () => {
    // Prepare: m0's large error is stored and counted; its decision fails once
    const group = newGroupId();
    const members = Array.from({ length: 10 }, (_, i) => `m${i}`);
    await processKafkaEvent(kafkaEvent([create(group, members)]), runtime);
    const big = 'E'.repeat(400);
    failNext = (input, command) =>
      command === 'UpdateItemCommand' &&
      keyOf(input) === 'STATE' &&
      String(input.UpdateExpression).includes('outcomeKey');
    const failed = await processKafkaEvent(kafkaEvent([done(group, 'm0', { error: big })]), runtime).then(
      (r) => r.batchItemFailures.length > 0,
      () => true,
    );

    // Act: m0 reports again, a success, before its error's record is redelivered
    await processKafkaEvent(kafkaEvent([done(group, 'm0', { result: { ok: 1 } })]), runtime);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(failed).toBe(true);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '{}')).toMatchObject({ entity: 'm0', error: big });
  });
});
