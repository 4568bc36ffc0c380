import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '#shared/config.ts';
import { createRuntime, kafkaPublisher, type Runtime } from '#shared/runtime.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { sweepOnce } from '../../functions/sweeper/handler.ts';
import { FaultyPublisher } from '../fixtures/faults.ts';
import { drainTopic, kafkaEvent, newGroupId, type TestRecord, testRuntime } from '../helpers/collector.ts';
import { dynamoClient, freshTable, services } from '../helpers/services.ts';

const create = (id: string, expected: string[], ttl = 300) =>
  JSON.stringify({ id, type: EVENT_TYPES.create, expected, ttl });
const done = (group: string, id: string) =>
  JSON.stringify({ id, type: EVENT_TYPES.done, group, result: { by: id } });

/**
 * Issue 21 item 1: the write that decides an outcome also claims its publish (a lease on STATE), so
 * in the normal path exactly one process publishes it; others publish only a lapsed, unpublished claim.
 */
describe('one publish per outcome in the normal path', () => {
  let first: Awaited<ReturnType<typeof testRuntime>>;
  let second: Runtime;
  let closeSecond: () => Promise<void>;
  beforeAll(async () => {
    first = await testRuntime();
    // A second execution environment: its own clients and caches, the same table and topics.
    const dynamo = dynamoClient();
    const publisher = kafkaPublisher({ clientId: 'second', brokers: services().brokers });
    second = createRuntime({ settings: first.settings, dynamo, publisher, functionName: 'second' });
    second.logger.setLogLevel('SILENT');
    closeSecond = async () => {
      await publisher.disconnect();
      dynamo.destroy();
    };
  });
  afterAll(async () => {
    await closeSecond();
    await first.close();
  });

  it("the last two reports of each group, each sent twice, reach two invocations at once: one outcome per group (the issue's scenario)", async () => {
    // Prepare: 30 groups of 3, the first member reported
    const groups = Array.from({ length: 30 }, () => newGroupId());
    await processKafkaEvent(
      kafkaEvent(groups.flatMap((g) => [{ value: create(g, ['a', 'b', 'c']) }, { value: done(g, 'a') }])),
      first,
    );
    const lastTwo = (partition: number): TestRecord[] =>
      groups.flatMap((g) => [
        { partition, value: done(g, 'b') },
        { partition, value: done(g, 'c') },
      ]);

    // Act: both invocations carry b and c of every group (each report sent twice), on different partitions
    const [one, two] = await Promise.all([
      processKafkaEvent(kafkaEvent(lastTwo(1)), first),
      processKafkaEvent(kafkaEvent(lastTwo(2)), second),
    ]);
    const outcomes = (await drainTopic(first.settings.outcomeTopic)).filter(
      (m) => m.key !== null && groups.includes(m.key),
    );
    const states = await Promise.all(groups.map((g) => first.store.getState(g)));

    // Assess
    expect(one.batchItemFailures).toEqual([]);
    expect(two.batchItemFailures).toEqual([]);
    expect(states.every((s) => s?.status === 'succeeded' && s.published)).toBe(true);
    expect(outcomes.length / groups.length).toBe(1);
    expect(new Set(outcomes.map((o) => o.key)).size).toBe(groups.length);
  });

  it('a decider that dies before publishing: the redelivered record takes its claim back and publishes at once', async () => {
    // Prepare: the completing report's first delivery dies at the publish
    const group = newGroupId();
    const dynamo = dynamoClient();
    const crashing = new FaultyPublisher(
      first.publisher,
      'before',
      (t) => t === first.settings.outcomeTopic,
      1,
      1,
    );
    const dying = createRuntime({
      settings: first.settings,
      dynamo,
      publisher: crashing,
      functionName: 'dying',
    });
    dying.logger.setLogLevel('SILENT');
    await processKafkaEvent(kafkaEvent([{ value: create(group, ['a']) }]), first);
    const event = kafkaEvent([{ partition: 1, offset: 7, value: done(group, 'a') }]);

    // Act
    const failed = await processKafkaEvent(event, dying).catch((e: unknown) => e);
    const between = await first.store.getState(group);
    await processKafkaEvent(event, first);
    const outcomes = (await drainTopic(first.settings.outcomeTopic)).filter((m) => m.key === group);
    dynamo.destroy();

    // Assess
    expect(crashing.injected).toBe(1);
    expect(failed).toBeInstanceOf(Error);
    expect(between?.status).toBe('succeeded');
    expect(between?.published).toBe(false);
    expect(outcomes).toHaveLength(1);
  });

  it('a live claim is left alone; once it lapses unpublished, the sweeper publishes the stored bytes', async () => {
    // Prepare: a decided group whose decider never published (its claim is live for 15 s), in a table of
    // its own (sweeps at a future time must not touch other tests' groups)
    const { tableName } = await freshTable('publish-once');
    const own = await testRuntime({ tableName, outcomeTopic: first.settings.outcomeTopic });
    const group = newGroupId();
    const t0 = Date.now();
    await processKafkaEvent(kafkaEvent([{ value: create(group, ['a', 'b'], 2) }]), own, () => t0);
    const stored = await own.store.getGroup(group);
    if (!stored) throw new Error('group not created');
    const decided = await own.store.decideOutcome({
      group: stored,
      status: 'timedout',
      mode: 'after-deadline',
      nowMs: t0 + 2_000,
      outcome: Buffer.from('{"stored":"bytes"}'),
      owner: 'died',
    });

    // Act: a sweep while the claim is live, then one after it lapsed
    const live = await sweepOnce(own, () => t0 + 3_000);
    const afterLive = (await drainTopic(first.settings.outcomeTopic)).filter((m) => m.key === group);
    const lapsed = await sweepOnce(own, () => t0 + 2_000 + own.store.publishClaimMs + 1);
    const outcomes = (await drainTopic(first.settings.outcomeTopic)).filter((m) => m.key === group);
    const state = await own.store.getState(group);
    await own.close();

    // Assess
    expect(decided.won).toBe(true);
    expect(live.failed).toBe(0);
    expect(afterLive).toHaveLength(0);
    expect(lapsed.failed).toBe(0);
    expect(outcomes.map((o) => o.value)).toEqual(['{"stored":"bytes"}']);
    expect(state?.published).toBe(true);
  });
});
