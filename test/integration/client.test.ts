import { randomUUID } from 'node:crypto';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCollector, startLocalCollector } from '#local/collector.ts';
import {
  ClientClosedError,
  GroupCollectorClient,
  type Outcome,
  OutcomeTimeoutError,
  ValidationError,
  WaitAbortedError,
} from '../../client/index.ts';
import { freshTopic, kafka, services } from '../helpers/services.ts';

/** Waits assert what arrives, not how fast: generous, since a loaded machine can take seconds to rebalance a consumer. */
const WAIT_MS = 60_000;

/** The client's consumer groups on the cluster (by prefix), and their live members. */
async function consumerFootprint(admin: Admin, prefix: string) {
  const { groups } = await admin.listGroups();
  const ids = groups.map((g) => g.groupId).filter((id) => id.startsWith(`${prefix}-`));
  const described = ids.length > 0 ? await admin.describeGroups(ids) : { groups: [] };
  return { groups: ids.length, members: described.groups.reduce((n, g) => n + g.members.length, 0) };
}

const failureOutcome = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    type: 'EventGroupCollectorFailure',
    id,
    entity: 'm',
    error: 'boom',
    created: new Date().toISOString(),
    resolved: new Date().toISOString(),
    results: { m: null },
    ...extra,
  });

describe('the client against the real collector', () => {
  let input: string;
  let outcomes: string;
  let collector: LocalCollector;
  let admin: Admin;

  beforeAll(async () => {
    [input, outcomes] = await Promise.all([freshTopic('client-input', 3), freshTopic('client-outcomes', 3)]);
    const deadLetters = await freshTopic('client-dlq', 1);
    collector = await startLocalCollector({
      ...services(),
      inputTopics: [input],
      groupId: `client-${randomUUID()}`,
      kafka: { maximumBatchingWindowSeconds: 0 },
      settings: { outcomeTopic: outcomes, deadLetterTopic: deadLetters },
    });
    admin = kafka('client-test-admin').admin();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.disconnect();
    await collector.stop();
  });

  it('twenty concurrent waits share one consumer; close() leaves no consumer group and no member', async () => {
    // Prepare
    const prefix = `client-twenty-${randomUUID().slice(0, 8)}`;
    const client = new GroupCollectorClient({
      kafka: services().brokers,
      topic: input,
      outcomeTopic: outcomes,
      groupIdPrefix: prefix,
    });
    const groups = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.createGroup({ expected: ['a', 'b'], payload: { i } })),
    );

    // Act: twenty waits at once, before any consumer exists; then the members report
    const waits = groups.map((g) => client.awaitOutcome(g, { timeoutMs: 60_000 }));
    await Promise.all(groups.flatMap((g) => [client.reportDone(g, 'a', 1), client.reportDone(g, 'b', 2)]));
    const results = await Promise.all(waits);
    const before = await consumerFootprint(admin, prefix);
    const started = Date.now();
    await client.close();
    const closeMs = Date.now() - started;
    const after = await consumerFootprint(admin, prefix);

    // Assess
    console.log(
      `[client] 20 waits: before close ${before.groups} group(s), ${before.members} member(s); after ${after.groups}, ${after.members}; close() ${closeMs} ms`,
    );
    expect(results.map((o) => o.type)).toEqual(groups.map(() => 'EventGroupCollectorSuccess'));
    expect(results.map((o) => o.id)).toEqual(groups);
    expect(before).toEqual({ groups: 1, members: 1 });
    expect(after).toEqual({ groups: 0, members: 0 });
  });

  it('an outcome published before the wait is found: for its own group, and for another with `since`', async () => {
    // Prepare: the group resolves before anyone waits (the creating client has no consumer yet)
    const options = { kafka: services().brokers, topic: input, outcomeTopic: outcomes };
    const creator = new GroupCollectorClient(options);
    const other = new GroupCollectorClient(options);
    const since = new Date();
    const group = await creator.createGroup({ expected: ['only'] });
    await creator.reportDone(group, 'only', { early: true });
    await other.listen(); // `other` starts reading after the outcome may already be out…
    const seen = await waitForOutcomeOnTopic(outcomes, group);

    // Act
    const own = await creator.awaitOutcome(group, WAIT_MS);
    const elsewhere = await other.awaitOutcome(group, { since, timeoutMs: WAIT_MS }); // …and reads back to `since`
    await Promise.all([creator.close(), other.close()]);

    // Assess
    expect(seen).toBe(true);
    expect(own).toMatchObject({ type: 'EventGroupCollectorSuccess', results: { only: { early: true } } });
    expect(elsewhere).toEqual(own);
  });

  it('failures are typed: a member error names the member, a timeout lists who is missing', async () => {
    // Prepare
    const client = new GroupCollectorClient({
      kafka: services().brokers,
      topic: input,
      outcomeTopic: outcomes,
    });
    const failing = await client.createGroup({ expected: ['x', 'y'], ttl: 60 });

    // Act
    await client.reportFailed(failing, 'y', 'disk full');
    const [memberError, timeout] = await Promise.all([
      client.awaitOutcome(failing, 30_000),
      client.collect({ expected: ['late'], ttl: 1 }, { timeoutMs: 30_000 }),
    ]);
    await client.close();

    // Assess
    expect(cause(memberError)).toEqual({ kind: 'member-error', entity: 'y', error: 'disk full' });
    expect(cause(timeout)).toEqual({ kind: 'timeout', missing: ['late'] });
  });

  it('refused calls publish nothing; a good one after them is the only record', async () => {
    // Prepare
    const topic = await freshTopic('client-refused', 1);
    const client = new GroupCollectorClient({ kafka: services().brokers, topic, maxTtlSeconds: 3600 });
    const refused: Promise<unknown>[] = [
      client.createGroup({ expected: [] }),
      client.createGroup({ expected: ['a', 'a'] }),
      client.createGroup({ expected: ['a'], ttl: 0 }),
      client.createGroup({ expected: ['a'], ttl: -5 }),
      client.createGroup({ expected: ['a'], ttl: 1.5 }),
      client.createGroup({ expected: ['a'], ttl: 3601 }),
      client.createGroup({ id: 'g'.repeat(257), expected: ['a'] }),
      client.createGroup({ expected: ['a'], payload: 'p'.repeat(70_000) }),
      client.reportDone('g', 'm', 'r'.repeat(70_000)),
      client.reportFailed('g', 'm', ''),
    ];

    // Act
    const errors = await Promise.all(
      refused.map((p) =>
        p.then(
          () => undefined,
          (e: unknown) => e,
        ),
      ),
    );
    await client.reportDone('g', 'm', { fine: true });
    const offsets = await admin.fetchTopicOffsets(topic);
    await client.close();

    // Assess
    expect(errors.every((e) => e instanceof ValidationError)).toBe(true);
    expect(errors.map((e) => (e as ValidationError).field)).toEqual([
      'expected',
      'expected',
      'ttl',
      'ttl',
      'ttl',
      'ttl',
      'id',
      'payload',
      'result',
      'error',
    ]);
    expect(offsets.reduce((n, p) => n + Number(p.high), 0)).toBe(1);
  });
});

describe('the client on an outcome topic fed directly', () => {
  let topic: string;
  let admin: Admin;

  beforeAll(async () => {
    topic = await freshTopic('client-fed', 1);
    admin = kafka('client-fed-admin').admin();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.disconnect();
  });

  async function publishTo(to: string, ...values: [string, string][]) {
    const producer = kafka('client-feed').producer();
    await producer.connect();
    await producer.send({ topic: to, messages: values.map(([key, value]) => ({ key, value })) });
    await producer.disconnect();
  }
  const publish = (...values: [string, string][]) => publishTo(topic, ...values);

  it('an outcome evicted from the bounded buffer is read again from Kafka; copies count once', async () => {
    // Prepare: a buffer of one outcome; the first is pushed out by the second
    const client = new GroupCollectorClient({
      kafka: services().brokers,
      outcomeTopic: topic,
      maxBufferedOutcomes: 1,
    });
    await client.listen();
    const since = Date.now();
    const [first, second] = [`g-${randomUUID()}`, `g-${randomUUID()}`];
    await publish(
      [first, failureOutcome(first)],
      [first, failureOutcome(first)],
      [second, failureOutcome(second)],
    );
    await client.awaitOutcome(second, WAIT_MS); // read up to the second: the first was read and evicted

    // Act
    const buffered = client.buffered.outcomes;
    const outcome = await client.awaitOutcome(first, { since, timeoutMs: WAIT_MS });
    await client.close();

    // Assess
    expect(buffered).toBe(1);
    expect(outcome).toMatchObject({ id: first, cause: { kind: 'member-error', entity: 'm', error: 'boom' } });
  });

  it('a second outcome topic re-subscribes the one consumer; the first topic misses nothing meanwhile', async () => {
    // Prepare
    const prefix = `client-topics-${randomUUID().slice(0, 8)}`;
    const second = await freshTopic('client-fed-second', 2);
    const client = new GroupCollectorClient({
      kafka: services().brokers,
      outcomeTopic: topic,
      groupIdPrefix: prefix,
    });
    await client.listen();
    const [x, y] = [`g-${randomUUID()}`, `g-${randomUUID()}`];

    // Act: the wait on the second topic restarts the consumer while x is published on the first
    const waitX = client.awaitOutcome(x, WAIT_MS);
    const waitY = client.awaitOutcome(y, { topic: second, timeoutMs: WAIT_MS });
    await publish([x, failureOutcome(x)]);
    await publishTo(second, [y, failureOutcome(y)]);
    const [ox, oy] = await Promise.all([waitX, waitY]);
    const footprint = await consumerFootprint(admin, prefix);
    await client.close();

    // Assess
    expect([ox.id, oy.id]).toEqual([x, y]);
    expect(footprint).toEqual({ groups: 1, members: 1 });
    expect(await consumerFootprint(admin, prefix)).toEqual({ groups: 0, members: 0 });
  });

  it('an outcome of the client\u2019s own group is kept apart from other traffic', async () => {
    // Prepare: a buffer of two; the client's group resolves, then ten others crowd the topic
    const input = await freshTopic('client-fed-input', 1);
    const client = new GroupCollectorClient({
      kafka: services().brokers,
      topic: input,
      outcomeTopic: topic,
      maxBufferedOutcomes: 2,
    });
    await client.listen();
    const own = await client.createGroup({ expected: ['m'] });
    const others = Array.from({ length: 10 }, () => `other-${randomUUID()}`);
    await publish(
      [own, failureOutcome(own)],
      ...others.map((id): [string, string] => [id, failureOutcome(id)]),
    );
    await client.awaitOutcome(others.at(-1) ?? '', WAIT_MS); // everything read

    // Act
    const buffered = client.buffered.outcomes;
    const outcome = await client.awaitOutcome(own, WAIT_MS);
    await client.close();

    // Assess: two others and the own one were kept
    expect(buffered).toBe(3);
    expect(outcome.id).toBe(own);
  });

  it('close() rejects pending waits with ClientClosedError; a signal aborts, a timeout times out', async () => {
    // Prepare
    const client = new GroupCollectorClient({ kafka: services().brokers, outcomeTopic: topic });
    await client.listen();
    const controller = new AbortController();
    const aborted = client.awaitOutcome('never-1', { signal: controller.signal }).catch((e: unknown) => e);
    const timedOut = client.awaitOutcome('never-2', { timeoutMs: 50 }).catch((e: unknown) => e);
    const pending = ['never-3', 'never-4'].map((id) => client.awaitOutcome(id).catch((e: unknown) => e));

    // Act
    controller.abort(new Error('user gave up'));
    const firstTwo = await Promise.all([aborted, timedOut]);
    await client.close();
    const rejected = await Promise.all(pending);
    const afterClose = await client.awaitOutcome('never-5').catch((e: unknown) => e);

    // Assess
    expect(firstTwo[0]).toBeInstanceOf(WaitAbortedError);
    expect((firstTwo[0] as WaitAbortedError).cause).toEqual(new Error('user gave up'));
    expect(firstTwo[1]).toBeInstanceOf(OutcomeTimeoutError);
    expect(rejected.every((e) => e instanceof ClientClosedError)).toBe(true);
    expect(afterClose).toBeInstanceOf(ClientClosedError);
  });
});

function cause(outcome: Outcome) {
  return outcome.type === 'EventGroupCollectorFailure' ? outcome.cause : undefined;
}

/** Waits (on the condition, bounded) until the group's outcome is on the topic. */
async function waitForOutcomeOnTopic(topic: string, group: string, timeoutMs = 30_000): Promise<boolean> {
  const consumer = kafka('client-probe').consumer({ groupId: `probe-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  try {
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      void consumer.run({
        eachMessage: async ({ message }) => {
          if (message.key?.toString() === group && message.value?.includes('EventGroupCollectorSuccess')) {
            clearTimeout(timer);
            resolve(true);
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
}
