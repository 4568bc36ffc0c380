/**
 * Guarantees 1–5 as a property on the real services: random groups, a random
 * delivery schedule (reports before their Create, duplicates, batching, two
 * partitions applied concurrently by two execution environments) and random
 * crashes around the publish, each failed invocation redelivered as the event
 * source mapping would. Kafka and DynamoDB Local are real; only faults are injected.
 */
import { type DynamoDBClient, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import type { Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '#core/canonical.ts';
import type { OutgoingMessage, Publisher } from '#publish/publisher.ts';
import { EVENT_TYPES, loadSettings, type Settings } from '#shared/config.ts';
import { createRuntime, kafkaPublisher, type Runtime } from '#shared/runtime.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { kafkaEvent, newGroupId, type TestRecord } from '../helpers/collector.ts';
import { dynamoClient, freshTopic, kafka, services } from '../helpers/services.ts';

/** A crash injected by the test: the function "dies" before or after handing messages to the broker. */
class InjectedCrash extends Error {
  override name = 'InjectedCrash';
}

type Fault = 'before' | 'after';

/**
 * The real publisher with crashes on chosen calls: `before` throws without publishing
 * (died between the decision and the publish), `after` publishes and then throws
 * (died before recording that it published). Remembers what reached the broker.
 */
class FaultyPublisher implements Publisher {
  private calls = 0;
  private faults = new Map<number, Fault>();
  readonly delivered: { topic: string; key: string }[] = [];
  crashes = 0;

  constructor(private readonly inner: Publisher) {}

  /** Crashes on the given call numbers, counted from now. */
  plan(faults: Map<number, Fault>): void {
    this.calls = 0;
    this.faults = faults;
  }

  async publish(messages: OutgoingMessage[]): Promise<void> {
    const fault = this.faults.get(++this.calls);
    if (fault === 'before') {
      this.crashes++;
      throw new InjectedCrash(`crash before publish call ${this.calls}`);
    }
    await this.inner.publish(messages);
    for (const m of messages) this.delivered.push({ topic: m.destination, key: String(m.key) });
    if (fault === 'after') {
      this.crashes++;
      throw new InjectedCrash(`crash after publish call ${this.calls}`);
    }
  }

  disconnect(): Promise<void> {
    return this.inner.disconnect();
  }
}

type MemberFate = 'ok' | 'fail' | 'missing';

interface GroupSpec {
  members: { id: string; fate: MemberFate; result: unknown; error: string }[];
  payload: unknown;
  createCopies: number;
}

const memberId = fc.oneof(
  { weight: 3, arbitrary: fc.uuid() },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', '0', '17') },
);
const fate = fc.oneof(
  { weight: 5, arbitrary: fc.constant<MemberFate>('ok') },
  { weight: 1, arbitrary: fc.constant<MemberFate>('fail') },
  { weight: 1, arbitrary: fc.constant<MemberFate>('missing') },
);
const groupSpec: fc.Arbitrary<GroupSpec> = fc.record({
  members: fc.uniqueArray(
    fc.record({
      id: memberId,
      fate,
      result: fc.option(fc.jsonValue({ maxDepth: 3 }), { nil: undefined }),
      error: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }),
    }),
    { minLength: 1, maxLength: 8, selector: (m) => m.id },
  ),
  payload: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
  createCopies: fc.integer({ min: 1, max: 2 }),
});

/** One record to deliver: a group's Create, or a member's report. */
type Delivery = { group: number; member?: number };

interface Scenario {
  groups: GroupSpec[];
  /** Every record, duplicates included, in delivery order. */
  order: Delivery[];
  /** Sizes of consecutive events cut from `order`. */
  batches: number[];
  /** The partition (0 or 1) of each event; the two partitions are applied concurrently. */
  partitions: number[];
  faults: [number, Fault][];
}

const scenario: fc.Arbitrary<Scenario> = fc
  .array(groupSpec, { minLength: 1, maxLength: 5 })
  .chain((groups) => {
    const records: Delivery[] = [];
    groups.forEach((g, group) => {
      for (let c = 0; c < g.createCopies; c++) records.push({ group });
      g.members.forEach((m, member) => {
        if (m.fate !== 'missing') records.push({ group, member });
      });
    });
    return fc
      .record({
        duplicates: fc.uniqueArray(fc.nat(records.length - 1), { maxLength: Math.ceil(records.length / 3) }),
        shuffleKeys: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), {
          minLength: records.length * 2,
          maxLength: records.length * 2,
        }),
        batches: fc.array(fc.integer({ min: 1, max: 8 }), {
          minLength: records.length * 2,
          maxLength: records.length * 2,
        }),
        partitions: fc.array(fc.integer({ min: 0, max: 1 }), {
          minLength: records.length * 2,
          maxLength: records.length * 2,
        }),
        faults: fc.uniqueArray(
          fc.tuple(fc.integer({ min: 1, max: 12 }), fc.constantFrom<Fault>('before', 'after')),
          {
            maxLength: 6,
            selector: ([call]) => call,
          },
        ),
      })
      .map(({ duplicates, shuffleKeys, batches, partitions, faults }) => {
        const all = [...records, ...duplicates.map((i) => records[i] as Delivery)];
        const order = all
          .map((d, i) => ({ d, k: shuffleKeys[i] ?? 0 }))
          .sort((a, b) => a.k - b.k)
          .map(({ d }) => d);
        return { groups, order, batches, partitions, faults };
      });
  });

const createText = (id: string, spec: GroupSpec) =>
  JSON.stringify({
    id,
    type: EVENT_TYPES.create,
    expected: spec.members.map((m) => m.id),
    ttl: 300,
    ...(spec.payload === undefined ? {} : { payload: spec.payload }),
  });

const doneText = (group: string, m: GroupSpec['members'][number]) =>
  JSON.stringify({
    id: m.id,
    type: EVENT_TYPES.done,
    group,
    ...(m.fate === 'fail' ? { error: m.error } : {}),
    ...(m.result === undefined ? {} : { result: m.result }),
  });

/** JSON as it arrives and is carried: -0 becomes 0, an absent value null. */
const carried = (value: unknown) => canonicalJson(JSON.parse(JSON.stringify(value ?? null)));

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<void> {
  const started = Date.now();
  while (!check() && Date.now() - started < timeoutMs) await new Promise((r) => setTimeout(r, 50));
}

describe('guarantees 1–5 under random schedules and crashes (property, real services)', () => {
  let settings: Settings;
  let sharedPublisher: Publisher;
  const dynamos: DynamoDBClient[] = [];
  const environments: { runtime: Runtime; publisher: FaultyPublisher }[] = [];
  let consumer: Consumer;
  const outcomes: { key: string; value: string }[] = [];
  const unexpectedErrors: string[] = [];
  /** What the runs exercised, so that a vacuous pass is caught. */
  const seen = { crashes: 0, successes: 0, failures: 0, undecided: 0, reportsBeforeCreate: 0 };

  beforeAll(async () => {
    const [outcomeTopic, deadLetterTopic] = await Promise.all([
      freshTopic('prop-outcomes', 3),
      freshTopic('prop-dlq', 1),
    ]);
    settings = {
      ...loadSettings({}),
      tableName: services().tableName,
      kafkaBrokers: services().brokers,
      outcomeTopic,
      deadLetterTopic,
    };
    sharedPublisher = kafkaPublisher({ clientId: 'collector-property', brokers: services().brokers });
    // Two execution environments: each its own DynamoDB client, store (definition cache) and collector.
    for (const name of ['env-a', 'env-b']) {
      const dynamo = dynamoClient();
      dynamos.push(dynamo);
      const publisher = new FaultyPublisher(sharedPublisher);
      const runtime = createRuntime({ settings, dynamo, publisher, functionName: name });
      runtime.logger.setLogLevel('SILENT');
      environments.push({ runtime, publisher });
    }
    consumer = kafka('property-outcomes').consumer({ groupId: `property-${newGroupId()}` });
    await consumer.connect();
    await consumer.subscribe({ topic: outcomeTopic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        outcomes.push({ key: message.key?.toString() ?? '', value: message.value?.toString() ?? '' });
      },
    });
  });

  afterAll(async () => {
    await consumer?.disconnect();
    await sharedPublisher?.disconnect();
    for (const d of dynamos) d.destroy();
    if (unexpectedErrors.length > 0)
      console.warn('[property] retried non-injected errors:', unexpectedErrors);
  });

  /** Delivers one event until an invocation succeeds, as the event source mapping retries a failed batch. */
  async function deliverUntilAccepted(runtime: Runtime, event: unknown): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await processKafkaEvent(event, runtime);
        expect(result.batchItemFailures).toEqual([]);
        return;
      } catch (error) {
        const cause = (error as Error).cause;
        if (!(cause instanceof InjectedCrash)) unexpectedErrors.push(String(cause ?? error));
        if (attempt >= 25) throw error;
      }
    }
  }

  it('every decided group has exactly one outcome, published at least once, with identical copies', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ groups, order, batches, partitions, faults }) => {
        // Prepare: fresh group ids, records in the scheduled order, cut into events per partition
        const ids = groups.map(() => newGroupId());
        const records: TestRecord[] = order.map(({ group, member }) => {
          const spec = groups[group] as GroupSpec;
          const id = ids[group] as string;
          const value =
            member === undefined
              ? createText(id, spec)
              : doneText(id, spec.members[member] as GroupSpec['members'][number]);
          return { key: id, value };
        });
        const streams: TestRecord[][][] = [[], []];
        for (let start = 0, b = 0; start < records.length; b++) {
          const size = batches[b] ?? records.length;
          const partition = partitions[b] ?? 0;
          const batch = records.slice(start, start + size).map((r) => ({ ...r, partition: partition + 1 }));
          streams[partition]?.push(batch);
          start += size;
        }
        for (const env of environments) env.publisher.plan(new Map(faults));
        const crashesBefore = environments.reduce((n, e) => n + e.publisher.crashes, 0);
        seen.reportsBeforeCreate += groups.filter(
          (_, g) =>
            order.findIndex((d) => d.group === g && d.member !== undefined) <
            order.findIndex((d) => d.group === g && d.member === undefined),
        ).length;
        const deliveredBefore = environments.map((e) => e.publisher.delivered.length);

        // Act: each partition in order, the two partitions concurrently, each failed event redelivered
        await Promise.all(
          streams.map(async (events, p) => {
            const env = environments[p] as (typeof environments)[number];
            for (const batch of events) await deliverUntilAccepted(env.runtime, kafkaEvent(batch));
          }),
        );
        const mine = new Set(ids);
        const delivered = environments.flatMap((e, i) => e.publisher.delivered.slice(deliveredBefore[i]));
        const published = delivered.filter(
          (d) => d.topic === settings.outcomeTopic && mine.has(d.key),
        ).length;
        const deadLetters = delivered.filter((d) => d.topic === settings.deadLetterTopic);
        await waitUntil(() => outcomes.filter((o) => mine.has(o.key)).length >= published, 20_000);

        seen.crashes += environments.reduce((n, e) => n + e.publisher.crashes, 0) - crashesBefore;

        // Assess
        expect(deadLetters).toEqual([]);
        expect(outcomes.filter((o) => mine.has(o.key))).toHaveLength(published);
        groups.forEach((spec, g) => {
          const id = ids[g] as string;
          const copies = outcomes.filter((o) => o.key === id).map((o) => o.value);
          const failed = spec.members.filter((m) => m.fate === 'fail');
          const allOk = spec.members.every((m) => m.fate === 'ok');
          if (failed.length === 0 && !allOk) {
            expect(copies, `group ${g} has a member missing and none failed: no outcome`).toEqual([]);
            seen.undecided++;
            return;
          }
          expect(copies.length, `group ${g} outcome published`).toBeGreaterThanOrEqual(1);
          expect(new Set(copies).size, `group ${g}: all copies byte-identical`).toBe(1);
          const outcome = JSON.parse(copies[0] as string);
          expect(outcome.id).toBe(id);
          expect(carried(outcome.payload)).toBe(carried(spec.payload));
          if (spec.payload === undefined) expect(outcome).not.toHaveProperty('payload');
          const results = new Map(Object.entries(outcome.results as Record<string, unknown>));
          if (allOk) {
            expect(outcome.type).toBe(EVENT_TYPES.success);
            expect([...results.keys()].sort()).toEqual(spec.members.map((m) => m.id).sort());
            for (const m of spec.members) expect(carried(results.get(m.id))).toBe(carried(m.result));
            seen.successes++;
            return;
          }
          expect(outcome.type).toBe(EVENT_TYPES.failure);
          const culprit = failed.find((m) => m.id === outcome.entity);
          expect(culprit, `group ${g}: entity ${outcome.entity} is a member that failed`).toBeDefined();
          expect(outcome.error).toBe(culprit?.error);
          expect(results.get(outcome.entity)).toBeNull();
          expect(outcome).not.toHaveProperty('missing');
          seen.failures++;
          for (const [member, value] of results) {
            const spec_ = spec.members.find((m) => m.id === member);
            expect(spec_, `result for an expected member ${member}`).toBeDefined();
            expect(spec_?.fate).not.toBe('missing');
            expect(carried(value)).toBe(spec_?.fate === 'fail' ? 'null' : carried(spec_?.result));
          }
        });
      }),
      { numRuns: 15 },
    );

    // Assess: the runs covered crashes, both outcome kinds, undecided groups and early reports
    expect(seen.crashes).toBeGreaterThan(0);
    expect(seen.successes).toBeGreaterThan(0);
    expect(seen.failures).toBeGreaterThan(0);
    expect(seen.undecided).toBeGreaterThan(0);
    expect(seen.reportsBeforeCreate).toBeGreaterThan(0);
    console.log('[property] exercised', seen);
  }, 600_000);
});

/**
 * Fails the first DynamoDB request whose target and JSON body match, as throttling that
 * outlasted the SDK's own retries would: the request never reaches the table.
 */
function throttleOnce(
  dynamo: DynamoDBClient,
  target: string,
  bodyContains: string,
): { fired: () => boolean } {
  let fired = false;
  dynamo.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      const raw = request.body;
      const body =
        typeof raw === 'string' ? raw : raw instanceof Uint8Array ? new TextDecoder().decode(raw) : '';
      if (
        !fired &&
        request.headers?.['x-amz-target']?.endsWith(`.${target}`) &&
        body.includes(bodyContains)
      ) {
        fired = true;
        throw new ProvisionedThroughputExceededException({ message: 'injected throttling', $metadata: {} });
      }
      return next(args);
    },
    { step: 'build', name: 'injectThrottling' },
  );
  return { fired: () => fired };
}

describe('guarantee 8 with guarantee 4: a transient DynamoDB fault while a Create adopts early reports', () => {
  let settings: Settings;
  let publisher: Publisher;
  const dynamos: DynamoDBClient[] = [];

  beforeAll(async () => {
    const [outcomeTopic, deadLetterTopic] = await Promise.all([
      freshTopic('prop-outcomes', 1),
      freshTopic('prop-dlq', 1),
    ]);
    settings = {
      ...loadSettings({}),
      tableName: services().tableName,
      kafkaBrokers: services().brokers,
      outcomeTopic,
      deadLetterTopic,
    };
    publisher = kafkaPublisher({ clientId: 'collector-property-faults', brokers: services().brokers });
  });

  afterAll(async () => {
    await publisher?.disconnect();
    for (const d of dynamos) d.destroy();
  });

  const runtimeWith = (dynamo: DynamoDBClient) => {
    dynamos.push(dynamo);
    const runtime = createRuntime({ settings, dynamo, publisher, functionName: 'faults' });
    runtime.logger.setLogLevel('SILENT');
    return runtime;
  };

  /** Delivers the event until an invocation succeeds; returns how many attempts it took. */
  async function redeliver(runtime: Runtime, event: unknown): Promise<number> {
    for (let attempt = 1; attempt <= 5; attempt++) {
      const ok = await processKafkaEvent(event, runtime).then(
        () => true,
        () => false,
      );
      if (ok) return attempt;
    }
    throw new Error('never accepted');
  }

  // A group of two lives in one item (LAYOUT.single): its reports are stored and counted by this write.
  const COUNTING_WRITE = '"UpdateExpression":"SET r.#m';
  const report = (group: string, id: string, extra: Record<string, unknown> = { result: { by: id } }) =>
    JSON.stringify({ id, type: EVENT_TYPES.done, group, ...extra });
  const createGroup = (group: string, expected: string[]) =>
    JSON.stringify({ id: group, type: EVENT_TYPES.create, expected, ttl: 300 });

  // Regression: adoptEarlyReports once promoted an early report (removed `early`) before counting it;
  // a Create retried in between no longer saw the report as early and never counted it.
  it('counting an adopted early report is throttled once: after the retry the group still succeeds', async () => {
    // Prepare: both reports arrive before their group
    const group = newGroupId();
    const healthy = runtimeWith(dynamoClient());
    await processKafkaEvent(kafkaEvent([{ partition: 1, value: report(group, 'a') }]), healthy);
    await processKafkaEvent(kafkaEvent([{ partition: 2, value: report(group, 'b') }]), healthy);
    const dynamo = dynamoClient();
    const fault = throttleOnce(dynamo, 'UpdateItem', COUNTING_WRITE);
    const faulty = runtimeWith(dynamo);

    // Act: the Create's invocation fails once and is redelivered
    const attempts = await redeliver(
      faulty,
      kafkaEvent([{ partition: 0, value: createGroup(group, ['a', 'b']) }]),
    );
    const state = await healthy.store.getState(group);

    // Assess
    expect(fault.fired()).toBe(true);
    expect(attempts).toBe(2);
    expect(state?.status).toBe('succeeded');
  });

  // Regression, same cause: the failed member's error was never applied after the retry.
  it('deciding an adopted early failure is throttled once: after the retry the group still fails', async () => {
    // Prepare: a failed report and a good one arrive before their group
    const group = newGroupId();
    const healthy = runtimeWith(dynamoClient());
    await processKafkaEvent(
      kafkaEvent([{ partition: 1, value: report(group, 'bad', { error: 'boom' }) }]),
      healthy,
    );
    await processKafkaEvent(kafkaEvent([{ partition: 2, value: report(group, 'good') }]), healthy);
    const dynamo = dynamoClient();
    const fault = throttleOnce(dynamo, 'UpdateItem', 'outcomeKey');
    const faulty = runtimeWith(dynamo);

    // Act
    const attempts = await redeliver(
      faulty,
      kafkaEvent([{ partition: 0, value: createGroup(group, ['bad', 'good']) }]),
    );
    const state = await healthy.store.getState(group);

    // Assess
    expect(fault.fired()).toBe(true);
    expect(attempts).toBe(2);
    expect(state?.status).toBe('failed');
  });

  it('control: the same fault on a report that arrives after its Create is harmless', async () => {
    // Prepare
    const group = newGroupId();
    const healthy = runtimeWith(dynamoClient());
    await processKafkaEvent(
      kafkaEvent([{ value: createGroup(group, ['a', 'b']) }, { value: report(group, 'a') }]),
      healthy,
    );
    const dynamo = dynamoClient();
    const fault = throttleOnce(dynamo, 'UpdateItem', COUNTING_WRITE);
    const faulty = runtimeWith(dynamo);

    // Act
    const attempts = await redeliver(faulty, kafkaEvent([{ value: report(group, 'b') }]));
    const state = await healthy.store.getState(group);

    // Assess
    expect(fault.fired()).toBe(true);
    expect(attempts).toBe(2);
    expect(state?.status).toBe('succeeded');
    expect(state?.published).toBe(true);
  });
});
