import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { drainTopic, kafkaEvent, newGroupId, sample, testRuntime } from '../helpers/collector.ts';

describe('the sample events (events/samples)', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  beforeAll(async () => {
    runtime = await testRuntime();
  });
  afterAll(() => runtime.close());

  it('three reports after the Create, in any order and each possibly twice, give exactly one success', async () => {
    // Prepare: a random order of the three reports with duplicates, after the Create.
    const orders = fc.sample(
      fc.shuffledSubarray(['done-a', 'done-a', 'done-b', 'done-b', 'done-c', 'done-c'] as const, {
        minLength: 6,
      }),
      { numRuns: 1 },
    );
    const groups: string[] = [];
    for (const order of [...orders, ['done-c', 'done-b', 'done-a'] as const]) {
      const group = newGroupId();
      groups.push(group);
      // Act: one batch per record, as separate deliveries
      for (const name of ['create', ...order] as const) {
        await processKafkaEvent(kafkaEvent([{ key: group, value: sample(name, group) }]), runtime);
      }
    }
    const outcomes = await drainTopic(runtime.settings.outcomeTopic);

    // Assess
    for (const group of groups) {
      const mine = outcomes.filter((m) => m.key === group);
      expect(mine).toHaveLength(1);
      const outcome = JSON.parse(mine[0]?.value ?? '{}');
      expect(outcome).toMatchObject({
        type: 'EventGroupCollectorSuccess',
        id: group,
        results: {
          'A0CABCA1-64AE-40A3-ABEB-0741ACF1FF81': { job: 'A', bar: true },
          '366B21B5-E499-40E1-882A-B3EC99B27E47': { job: 'B', bar: true },
          '11ACC3BA-F0E5-4962-BC00-0E54497AB296': { job: 'C', bar: { buzz: 42 } },
        },
        payload: { group: 'payload' },
      });
      expect(outcome.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(Date.parse(outcome.resolved)).toBeGreaterThanOrEqual(Date.parse(outcome.created));
    }
  });

  it('the error sample fails the group at once, naming the member', async () => {
    // Prepare
    const group = newGroupId();
    const event = kafkaEvent(
      ['create', 'done-a', 'error-c', 'done-b'].map((n) => ({
        key: group,
        value: sample(n as 'create', group),
      })),
      'self-managed',
    );

    // Act: all in one batch, one partition
    await processKafkaEvent(event, runtime);
    const outcomes = (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);

    // Assess
    expect(outcomes).toHaveLength(1);
    const outcome = JSON.parse(outcomes[0]?.value ?? '{}');
    expect(outcome.type).toBe('EventGroupCollectorFailure');
    expect(outcome.entity).toBe('11ACC3BA-F0E5-4962-BC00-0E54497AB296');
    expect(outcome.error).toBe('Error while processing operation. Insufficient space on bounded volume');
    expect(outcome.results['11ACC3BA-F0E5-4962-BC00-0E54497AB296']).toBeNull();
    expect(outcome.payload).toEqual({ group: 'payload' });
  });

  const A = 'A0CABCA1-64AE-40A3-ABEB-0741ACF1FF81';
  const B = '366B21B5-E499-40E1-882A-B3EC99B27E47';
  const C = '11ACC3BA-F0E5-4962-BC00-0E54497AB296';
  /** Delivers the samples one by one (separate deliveries) and returns the group's one outcome. */
  const outcomeOf = async (names: Parameters<typeof sample>[0][]) => {
    const group = newGroupId();
    for (const name of names) {
      await processKafkaEvent(kafkaEvent([{ key: group, value: sample(name, group) }]), runtime);
    }
    const outcomes = (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);
    expect(outcomes).toHaveLength(1);
    return { group, text: outcomes[0]?.value ?? '' };
  };

  it('create-tolerate: the error sample is tolerated; the success lists it under errors', async () => {
    // Act
    const { group, text } = await outcomeOf(['create-tolerate', 'done-a', 'error-c', 'done-b']);

    // Assess
    expect(JSON.parse(text)).toEqual({
      type: 'EventGroupCollectorSuccess',
      id: group,
      created: expect.any(String),
      resolved: expect.any(String),
      results: { [A]: { job: 'A', bar: true }, [B]: { job: 'B', bar: true } },
      errors: { [C]: 'Error while processing operation. Insufficient space on bounded volume' },
      payload: { group: 'payload' },
    });
  });

  it('create-quorum: two successes decide the group; the third member is missing', async () => {
    // Act
    const { group, text } = await outcomeOf(['create-quorum', 'done-a', 'done-b', 'done-c']);

    // Assess
    expect(JSON.parse(text)).toEqual({
      type: 'EventGroupCollectorSuccess',
      id: group,
      created: expect.any(String),
      resolved: expect.any(String),
      results: { [A]: { job: 'A', bar: true }, [B]: { job: 'B', bar: true } },
      missing: [C],
      payload: { group: 'payload' },
    });
  });

  it('cancel: the open group fails at once with reason cancelled and the Cancel\u2019s message', async () => {
    // Act
    const { group, text } = await outcomeOf(['create', 'done-a', 'cancel', 'done-b']);

    // Assess
    expect(JSON.parse(text)).toEqual({
      type: 'EventGroupCollectorFailure',
      id: group,
      entity: group,
      error: 'Cancelled: Upload withdrawn by the user',
      reason: 'cancelled',
      created: expect.any(String),
      resolved: expect.any(String),
      results: { [A]: { job: 'A', bar: true } },
      missing: [B, C],
      payload: { group: 'payload' },
    });
  });
});
