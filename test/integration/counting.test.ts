import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '#shared/config.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { drainTopic, kafkaEvent, newGroupId, testRuntime } from '../helpers/collector.ts';

/**
 * A larger group's reports handled at once share one page and one commit of STATE, so a batch
 * carrying many reports pays few writes, whatever order its members come in; a redelivered batch
 * is committed again (its entries are duplicates: they never count twice), and the first report of
 * a member stays its report.
 */
describe('report pages shared by the reports of one batch', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  let commits = 0;
  beforeAll(async () => {
    runtime = await testRuntime();
    runtime.store.doc.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { UpdateExpression?: string };
        if (input.UpdateExpression?.startsWith('SET pages = :next')) commits++;
        return next(args);
      },
      { step: 'initialize', name: 'countCommits' },
    );
  });
  afterAll(() => runtime.close());

  const members = Array.from({ length: 200 }, (_, i) => `m${String(i).padStart(3, '0')}`);
  const create = (group: string) => ({
    value: JSON.stringify({ id: group, type: EVENT_TYPES.create, expected: members, ttl: 600 }),
  });
  const done = (group: string, id: string, result: unknown = { id }) => ({
    value: JSON.stringify({ id, type: EVENT_TYPES.done, group, result }),
  });
  /** A fixed shuffle (members finish in any order). */
  const shuffled = (ids: string[]) =>
    ids
      .map((id, i) => ({ id, key: (i * 7919) % 1009 }))
      .sort((a, b) => a.key - b.key)
      .map((x) => x.id);

  it('a shuffled batch of 199 reports of a 200-member group makes far fewer commits; a redelivery counts nothing twice; the last report completes it once', async () => {
    // Prepare
    const group = newGroupId();
    await processKafkaEvent(kafkaEvent([create(group)]), runtime);
    const batch = kafkaEvent(shuffled(members.slice(0, 199)).map((m) => done(group, m)));

    // Act
    const before = commits;
    const first = await processKafkaEvent(batch, runtime);
    const shared = commits - before;
    const open = await runtime.store.getState(group);
    const redelivered = await processKafkaEvent(batch, runtime);
    const stillOpen = await runtime.store.getState(group);
    await processKafkaEvent(kafkaEvent([done(group, members[199] as string)]), runtime);
    const decided = await runtime.store.getState(group);
    const outcomes = (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);

    // Assess
    expect(first.batchItemFailures).toEqual([]);
    expect(redelivered.batchItemFailures).toEqual([]);
    expect(shared).toBeGreaterThan(0);
    expect(shared).toBeLessThan(199 / 2);
    expect(open?.status).toBe('open');
    expect(open?.reported).toBe(199);
    expect(stillOpen?.status).toBe('open');
    expect(stillOpen?.reported).toBe(2 * 199);
    expect(decided?.status).toBe('succeeded');
    expect(outcomes).toHaveLength(1);
    expect(Object.keys(JSON.parse(outcomes[0]?.value ?? '{}').results)).toHaveLength(200);
  });

  it('a member that reports twice with different content: its first report is in the outcome', async () => {
    // Prepare
    const group = newGroupId();
    await processKafkaEvent(kafkaEvent([create(group)]), runtime);

    // Act: m000 first reports {first: true}, later {second: true}; then everyone else
    await processKafkaEvent(kafkaEvent([done(group, 'm000', { first: true })]), runtime);
    await processKafkaEvent(kafkaEvent([done(group, 'm000', { second: true })]), runtime);
    await processKafkaEvent(kafkaEvent(members.slice(1).map((m) => done(group, m))), runtime);
    const outcomes = (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);

    // Assess
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '{}').results.m000).toEqual({ first: true });
  });
});
