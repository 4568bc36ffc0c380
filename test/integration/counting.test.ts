import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '#shared/config.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { drainTopic, kafkaEvent, newGroupId, testRuntime } from '../helpers/collector.ts';

/**
 * Issue 21 item 2: reports of one counter shard counted while a write to it is in flight share the
 * next ADD, so a batch carrying many reports of a large group pays far fewer counter writes than
 * reports, and counting stays a set union (a redelivered batch counts nothing twice).
 */
describe('counter writes shared by the reports of one batch', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  let counterWrites = 0;
  beforeAll(async () => {
    runtime = await testRuntime();
    runtime.store.doc.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { UpdateExpression?: string };
        if (input.UpdateExpression?.startsWith('ADD seen')) counterWrites++;
        return next(args);
      },
      { step: 'initialize', name: 'countCounterWrites' },
    );
  });
  afterAll(() => runtime.close());

  it('a batch of 199 reports of a 200-member group makes far fewer counter writes; the last report completes it once, a redelivery changes nothing', async () => {
    // Prepare
    const group = newGroupId();
    const members = Array.from({ length: 200 }, (_, i) => `m${String(i).padStart(3, '0')}`);
    const done = (id: string) => ({
      value: JSON.stringify({ id, type: EVENT_TYPES.done, group, result: { id } }),
    });
    await processKafkaEvent(
      kafkaEvent([
        { value: JSON.stringify({ id: group, type: EVENT_TYPES.create, expected: members, ttl: 600 }) },
      ]),
      runtime,
    );
    const batch = kafkaEvent(members.slice(0, 199).map(done));

    // Act
    const before = counterWrites;
    const first = await processKafkaEvent(batch, runtime);
    const shared = counterWrites - before;
    const open = await runtime.store.getState(group);
    const redelivered = await processKafkaEvent(batch, runtime);
    const stillOpen = await runtime.store.getState(group);
    await processKafkaEvent(kafkaEvent([done(members[199] as string)]), runtime);
    const decided = await runtime.store.getState(group);
    const outcomes = (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);

    // Assess
    expect(first.batchItemFailures).toEqual([]);
    expect(redelivered.batchItemFailures).toEqual([]);
    expect(shared).toBeGreaterThan(0);
    expect(shared).toBeLessThan(199 / 2);
    expect(open?.status).toBe('open');
    expect(stillOpen?.status).toBe('open');
    expect(decided?.status).toBe('succeeded');
    expect(outcomes).toHaveLength(1);
    expect(Object.keys(JSON.parse(outcomes[0]?.value ?? '{}').results)).toHaveLength(200);
  });
});
