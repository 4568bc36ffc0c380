/**
 * Fault injection on the real services (Kafka broker, DynamoDB Local): the whole collector
 * under the local event source mappings, a random workload (duplicates, reports before
 * their Create, member failures, timeouts), and one kind of fault per test. After each:
 * every group has exactly one outcome (all copies byte-identical, results exact) and every
 * input record is accepted, ignored with a reason or dead-lettered — none lost.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KafkaNode, startKafka } from '#local/services/kafka.ts';
import { freePort } from '#local/services/process.ts';
import { SWEEPER } from '#shared/aws.ts';
import { EVENT_TYPES } from '#shared/config.ts';
import { createRuntime } from '#shared/runtime.ts';
import { keys } from '#store/layout.ts';
import { soakProblems } from '../../bench/soak.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { sweepOnce } from '../../functions/sweeper/handler.ts';
import {
  FaultyPublisher,
  InjectedFault,
  loseReplies,
  type PublishFault,
  type RandomFaultCounts,
  randomFaults,
} from '../fixtures/faults.ts';
import { dynamoFor, readToEnd, waitUntil } from '../fixtures/harness.ts';
import { type RunReport, runScenario, summary } from '../fixtures/run.ts';
import { random } from '../fixtures/workload.ts';
import { kafkaEvent, newGroupId, testRuntime } from '../helpers/collector.ts';
import { freshTable, services } from '../helpers/services.ts';

/** A small workload: every kind of group, a few of each, in ~40 groups. */
const SMALL = {
  groups: 40,
  duplicated: 0.2,
  outOfOrder: 0.2,
  failures: 0.15,
  timeouts: 0.1,
  timeoutTtl: 4,
} as const;

const isOutcomeTopic = (topic: string) => topic.startsWith('rel-outcomes-');

function expectAllAccounted(report: RunReport) {
  expect(soakProblems(report)).toEqual([]);
  expect(report.outcomes.outcomes).toBe(report.workload.groups);
  expect(report.records.lost).toEqual([]);
  expect(report.records.records).toBe(report.workload.records);
}

describe('guarantee 2: the function dies between the decision and the publish, at every step', () => {
  const publisherSteps: PublishFault[] = ['before', 'after'];

  it.each(publisherSteps)('collector publisher throws %s publishing every 2nd outcome', async (fault) => {
    // Prepare
    const publishers: FaultyPublisher[] = [];

    // Act
    const report = await runScenario({
      services: services(),
      workload: { ...SMALL, seed: fault === 'before' ? 11 : 12 },
      harness: {
        wrapPublisher: (fn, inner) => {
          if (fn !== 'collector') return inner;
          const faulty = new FaultyPublisher(inner, fault, isOutcomeTopic, 2);
          publishers.push(faulty);
          return faulty;
        },
      },
    });
    const injected = publishers.reduce((n, p) => n + p.injected, 0);
    console.log(summary(`publish-${fault}`, report, injected));

    // Assess
    expect(injected).toBeGreaterThan(0);
    expect(report.records.failedDeliveries).toBeGreaterThan(0);
    expectAllAccounted(report);
  });

  it.each([
    ['the decision (conditional STATE update)', 'UpdateItem', 'outcomeKey'],
    ['markPublished', 'UpdateItem', 'SET published'],
  ])('the DynamoDB reply to %s is lost after it applied (every 2nd)', async (_, target, body) => {
    // Prepare
    const faults: { injected: () => number }[] = [];

    // Act
    const report = await runScenario({
      services: services(),
      workload: { ...SMALL, seed: target.length },
      harness: {
        onDynamo: (fn, client) => {
          // Not the sweeper: a lost reply there loses the timeout (see the known bug below).
          if (fn !== 'sweeper') faults.push(loseReplies(client, target, body, 2));
        },
      },
    });
    const injected = faults.reduce((n, f) => n + f.injected(), 0);
    console.log(summary(`lost-reply-${target}`, report, injected));

    // Assess
    expect(injected).toBeGreaterThan(0);
    expectAllAccounted(report);
  });

  // Regression: the decision used to remove the group from the deadlines index, so a sweeper that died
  // before publishing left a timeout nobody would publish. A group now leaves the index once published.
  it('the sweeper dies after deciding a timeout, before publishing: a later sweep publishes it', async () => {
    // Prepare: a group of two with ttl 1, one member reported
    const healthy = await testRuntime();
    const outcomeTopic = healthy.settings.outcomeTopic;
    const dynamo = dynamoFor(services().dynamoEndpoint);
    // Two faults: the sweep's one produce for its chunk of due groups, then its retry of this group alone.
    const crashing = new FaultyPublisher(healthy.publisher, 'before', (t) => t === outcomeTopic, 1, 2);
    const sweeper = createRuntime({
      settings: healthy.settings,
      dynamo,
      publisher: crashing,
      functionName: 'sweeper',
    });
    sweeper.logger.setLogLevel('SILENT');
    const group = newGroupId();
    try {
      await processKafkaEvent(
        kafkaEvent([
          { value: JSON.stringify({ id: group, type: EVENT_TYPES.create, expected: ['a', 'b'], ttl: 1 }) },
          { value: JSON.stringify({ id: 'a', type: EVENT_TYPES.done, group, result: 1 }) },
        ]),
        healthy,
      );
      await new Promise((r) => setTimeout(r, 1_300));

      // Act: one sweep crashes at the publish; the following sweeps are healthy
      const first = await sweepOnce(sweeper);
      // The failed entry was moved out of the sweep's way for SWEEPER.firstBackoffMs (issue 17 item 3).
      await new Promise((r) => setTimeout(r, SWEEPER.firstBackoffMs + 200));
      for (let i = 0; i < 3; i++) await sweepOnce(healthy);
      const state = await healthy.store.getState(group);
      const outcomes = (await readToEnd(services().brokers, outcomeTopic)).filter((m) => m.key === group);

      // Assess
      expect(crashing.injected).toBe(2);
      expect(first.failed).toBeGreaterThanOrEqual(1);
      expect(state?.status).toBe('timedout');
      expect(outcomes).toHaveLength(1);
      expect(state?.published).toBe(true);
    } finally {
      dynamo.destroy();
      await healthy.close();
    }
  });
});

describe('guarantee 6: a producer names a replyTo topic that does not exist', () => {
  // Regression: the Create used to be accepted and the outcome's publish then failed on every retry,
  // holding the partition. The Create is now dead-lettered (`reply-topic-unknown`).
  it('the report that completes the group is accepted, not retried', async () => {
    // Prepare
    const runtime = await testRuntime();
    const group = newGroupId();
    try {
      await processKafkaEvent(
        kafkaEvent([
          {
            value: JSON.stringify({
              id: group,
              type: EVENT_TYPES.create,
              expected: ['a'],
              replyTo: `missing-${group}`,
            }),
          },
        ]),
        runtime,
      );

      // Act
      const result = await processKafkaEvent(
        kafkaEvent([{ value: JSON.stringify({ id: 'a', type: EVENT_TYPES.done, group }) }]),
        runtime,
      );

      // Assess
      expect(result.batchItemFailures).toEqual([]);
    } finally {
      await runtime.close();
    }
  }, 60_000);
});

describe('guarantee 8: the broker is stopped and restarted in the middle of a run', () => {
  let node: KafkaNode | undefined;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'faults-kafka-'));
    node = await startKafka({ port: await freePort(), controllerPort: await freePort(), dataDir });
  });
  afterAll(async () => {
    await node?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a separate broker goes down for 5 s mid-run and comes back with its data: nothing lost, one outcome each, timeouts included', async () => {
    // Prepare
    const broker = node as KafkaNode;
    let downMs = 0;

    // Act: half the records produced, the broker stopped while they are processed, restarted on its data
    const report = await runScenario({
      services: { ...services(), brokers: broker.brokers },
      // 10% timeouts (ttl 4 s): some fall due while the broker is down, so the sweeper decides them and
      // cannot publish; a later sweep publishes the stored bytes once the broker is back.
      workload: { ...SMALL, groups: 80, seed: 21 },
      harness: { kafka: { backoff: { initialMs: 200, maxMs: 5_000 } } },
      midway: async (harness) => {
        // Stop the broker while batches are in flight: the first ones are done, others are not.
        await waitUntil('a first batch', () => harness.ledger.byRecord.size > 0, 90_000);
        const stopped = Date.now();
        await broker.stop();
        await new Promise((r) => setTimeout(r, 5_000));
        await broker.restart();
        downMs = Date.now() - stopped;
      },
      timeoutMs: 150_000,
    });
    console.log(summary('broker-restart', report), `down ${downMs} ms`);

    // Assess
    expect(downMs).toBeGreaterThanOrEqual(5_000);
    expectAllAccounted(report);
  }, 240_000);
});

describe('guarantee 8: DynamoDB throttling and 5xx on 20% of calls', () => {
  it('with SDK retries at 2 attempts, faults reach the handlers, are retried, and change nothing', async () => {
    // Prepare
    const counts: RandomFaultCounts = { calls: 0, throttled: 0, serverErrors: 0, lostReplies: 0 };
    const rnd = random(31);

    // Act
    const report = await runScenario({
      services: services(),
      workload: { ...SMALL, seed: 31 },
      harness: {
        dynamoMaxAttempts: 2,
        // The sweeper gets refusals only: a 5xx after its decision applied is the known bug above.
        onDynamo: (fn, client) => randomFaults(client, 0.2, rnd, fn !== 'sweeper', counts),
      },
      timeoutMs: 150_000,
    });
    console.log(
      summary('dynamo-20pct', report, counts.throttled + counts.serverErrors + counts.lostReplies),
      counts,
    );

    // Assess
    expect(counts.throttled).toBeGreaterThan(0);
    expect(counts.serverErrors).toBeGreaterThan(0);
    expect(counts.lostReplies).toBeGreaterThan(0);
    expect(report.records.failedDeliveries).toBeGreaterThan(0);
    expectAllAccounted(report);
  }, 200_000);
});

describe('the collector function exceeds its timeout', () => {
  it('invocations time out (some after their work, some in the middle of a publish) and are redelivered', async () => {
    // Prepare: the first invocations run past the 1.5 s timeout; early outcome publishes are slow
    let invocations = 0;

    // Act
    const report = await runScenario({
      services: services(),
      workload: { ...SMALL, seed: 41 },
      harness: {
        kafka: { enforceTimeout: true, timeoutMs: 1_500, batchSize: 20 },
        wrapKafkaHandler: (handler) => async (event, context) => {
          const n = ++invocations;
          const result = await handler(event, context);
          if (n <= 6) await new Promise((r) => setTimeout(r, 2_000));
          return result;
        },
        wrapPublisher: (fn, inner) => {
          // The first 4 outcome publishes take 1.7 s: the invocation times out in the middle of them.
          return fn === 'collector' ? new FaultyPublisher(inner, 'slow', isOutcomeTopic, 1, 4, 1_700) : inner;
        },
      },
    });
    console.log(summary('handler-timeout', report, report.kafka.failedInvocations));

    // Assess
    expect(report.kafka.failedInvocations).toBeGreaterThanOrEqual(6);
    expectAllAccounted(report);
  });
});

describe('the timeouts (stream) function fails for a while', () => {
  // DynamoDB Local's TTL removes expired items late and irregularly on a busy shared table (seen: 2 of 8
  // within 90 s), so this test holds every group TTL did remove to exactly one timeout, and requires
  // that at least one removal went through after the injected failures.
  it('processStreamEvent throws on its first 3 invocations; every group TTL removed still times out once', async () => {
    // Prepare: timeouts only through TTL (no sweeper), the stream handler failing at first
    let failures = 0;
    // Its own small table: DynamoDB Local's TTL stalls when the shared table's index is large.
    const table = await freshTable('stream-failing');

    // Act
    const report = await runScenario({
      services: { ...services(), ...table },
      workload: {
        groups: 8,
        timeouts: 1,
        failures: 0,
        duplicated: 0,
        outOfOrder: 0,
        timeoutTtl: 2,
        seed: 51,
      },
      harness: {
        sweeper: false,
        stream: { startingPosition: 'TRIM_HORIZON' },
        wrapStreamHandler: (handler) => async (event, context) => {
          if (failures < 3) {
            failures++;
            throw new InjectedFault(`stream handler failure ${failures}`);
          }
          return handler(event, context);
        },
      },
      timeoutMs: 45_000,
    });
    console.log(summary('stream-failing', report, failures));
    const dynamo = dynamoFor(services().dynamoEndpoint);
    const notRemoved: string[] = [];
    const lost: string[] = [];
    for (const problem of report.outcomes.problems) {
      const id = problem.split(' ')[1] ?? '';
      const state = await dynamo.send(
        new GetItemCommand({
          TableName: table.tableName,
          Key: { pk: { S: keys.state(id).pk }, sk: { S: keys.state(id).sk } },
        }),
      );
      if (problem.endsWith('no outcome') && state.Item?.status?.S === 'open') notRemoved.push(id);
      else lost.push(`${problem}; STATE ${JSON.stringify(state.Item ?? null)}`);
    }
    dynamo.destroy();
    console.log(`[stream-failing] ${notRemoved.length} groups not yet removed by DynamoDB Local's TTL`);

    // Assess
    expect(failures).toBe(3);
    expect(report.stream.failedInvocations).toBeGreaterThanOrEqual(3);
    expect(report.outcomes.byKind.timeout).toBeGreaterThanOrEqual(1);
    expect(lost).toEqual([]);
    expect(report.records.lost).toEqual([]);
    expect(report.kafka.recordsDiscarded + report.stream.recordsDiscarded).toBe(0);
  }, 120_000);
});
