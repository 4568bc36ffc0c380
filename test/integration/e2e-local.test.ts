import { afterAll, beforeAll, describe, it } from 'vitest';
import type { GroupCollectorClient } from '../../client/index.ts';
import { drainTopic, newGroupId, sample } from '../helpers/collector.ts';
import { type CollectorOnTopics, collectorOnFreshTopics } from '../helpers/local-collector.ts';
import { services } from '../helpers/services.ts';

/**
 * End to end, as AWS runs it: records produced to Kafka reach the collector
 * through the local Kafka event source mapping; TTL deletions reach the
 * timeouts function through the local stream mapping; the sweeper runs.
 */
// Independent groups on one running collector: the tests run at once (the timeout's wait overlaps the others).
describe.concurrent('the whole collector under the local event source mappings', () => {
  let on: CollectorOnTopics;
  let client: GroupCollectorClient;
  let outcomes: string;
  let input: string;

  beforeAll(async () => {
    on = await collectorOnFreshTopics('e2e', { partitions: 3 });
    ({ client, outcomes, input } = on);
  });
  afterAll(() => on.stop());

  it('the sample walkthrough gives one success with the three results', async ({ expect }) => {
    // Prepare
    const group = newGroupId();
    const { Kafka, logLevel } = await import('kafkajs');
    const producer = new Kafka({ brokers: services().brokers, logLevel: logLevel.NOTHING }).producer();
    await producer.connect();

    // Act: the sample files as kcat would send them (no key), reports twice, in a shuffled order
    for (const name of ['create', 'done-b', 'done-a', 'done-c', 'done-a'] as const) {
      await producer.send({ topic: input, messages: [{ value: sample(name, group) }] });
    }
    const outcome = await client.awaitOutcome(group, 30_000);
    await producer.disconnect();

    // Assess
    expect(outcome.type).toBe('EventGroupCollectorSuccess');
    expect(Object.keys(outcome.results)).toHaveLength(3);
  });

  it('a member error fails the group, through the typed client', async ({ expect }) => {
    // Act
    const group = await client.createGroup({ expected: ['one', 'two'], ttl: 60, payload: { order: 7 } });
    await client.reportDone(group, 'one', { ok: true });
    await client.reportFailed(group, 'two', 'disk full');
    const outcome = await client.awaitOutcome(group, 30_000);

    // Assess
    expect(outcome).toMatchObject({
      type: 'EventGroupCollectorFailure',
      entity: 'two',
      error: 'disk full',
      results: { one: { ok: true }, two: null },
      payload: { order: 7 },
    });
  });

  it('a group with ttl 3 whose other members never report times out once, with the first result and the others missing', async ({
    expect,
  }) => {
    // Act
    const group = await client.createGroup({ expected: ['first', 'second', 'third'], ttl: 3 });
    await client.reportDone(group, 'first', { n: 1 });
    const outcome = await client.awaitOutcome(group, 30_000);
    const received = Date.now();
    await new Promise((r) => setTimeout(r, 2_000));
    const copies = (await drainTopic(outcomes)).filter((m) => m.key === group);

    // Assess
    expect(outcome).toMatchObject({
      type: 'EventGroupCollectorFailure',
      entity: group,
      error: 'Operation timed out after 3 seconds',
      results: { first: { n: 1 } },
      missing: ['second', 'third'],
    });
    const deadline = Date.parse(outcome.created) + 3_000;
    console.log(
      `[e2e] timeout published ${Date.parse(outcome.resolved) - deadline} ms after the deadline, received after ${received - deadline} ms`,
    );
    expect(Date.parse(outcome.resolved)).toBeGreaterThanOrEqual(deadline);
    expect(new Set(copies.map((c) => c.value)).size).toBe(1);
  });
});
