import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutgoingMessage, Publisher } from '#publish/publisher.ts';
import { createRuntime, type Runtime } from '#shared/runtime.ts';
import { deadlineShard, keys } from '#store/layout.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { sweepOnce } from '../../functions/sweeper/handler.ts';
import { processStreamEvent } from '../../functions/timeouts/handler.ts';
import { drainTopic, kafkaEvent, testRuntime } from '../helpers/collector.ts';
import { dynamoClient, freshTable } from '../helpers/services.ts';

const create = (id: string, ttl: number) =>
  JSON.stringify({ id, type: 'EventGroupCollectorCreate', expected: ['a', 'b'], ttl });

/** Group ids that all land in one shard of the deadline index. */
function idsInOneShard(count: number): string[] {
  const shard = deadlineShard('anchor');
  const ids: string[] = [];
  while (ids.length < count) {
    const id = `fair-${randomUUID()}`;
    if (deadlineShard(id) === shard) ids.push(id);
  }
  return ids;
}

/** Refuses every outcome of the listed groups, as a destination that deleted or limited its topic would. */
class RefusingPublisher implements Publisher {
  constructor(
    private readonly inner: Publisher,
    readonly refused: Set<string>,
  ) {}
  async publish(messages: OutgoingMessage[]) {
    if (messages.some((m) => typeof m.key === 'string' && this.refused.has(m.key)))
      throw new Error('refused');
    await this.inner.publish(messages);
  }
  disconnect() {
    return this.inner.disconnect();
  }
}

/** Issue 17 item 3: an entry that keeps failing never starves another; an unpublished outcome is never dropped. */
describe('the sweeper is fair and loses nothing', () => {
  let base: Awaited<ReturnType<typeof testRuntime>>;
  let runtime: Runtime;
  let publisher: RefusingPublisher;

  beforeAll(async () => {
    const { tableName } = await freshTable('fair');
    base = await testRuntime({ tableName });
    publisher = new RefusingPublisher(base.publisher, new Set());
    runtime = createRuntime({
      settings: base.settings,
      functionName: 'fair',
      publisher,
      logger: base.logger,
      dynamo: dynamoClient(),
    });
  });
  afterAll(() => base.close());

  it('due entries that keep failing are moved out of the way: an ordinary group in the same shard is timed out', async () => {
    // Prepare: 20 groups whose outcomes are refused, due first; one ordinary group due last, same shard
    const [ordinary, ...failing] = idsInOneShard(21) as [string, ...string[]];
    for (const id of failing) publisher.refused.add(id);
    const t0 = Date.now();
    await processKafkaEvent(kafkaEvent(failing.map((id) => ({ value: create(id, 1) }))), runtime, () => t0);
    await processKafkaEvent(kafkaEvent([{ value: create(ordinary, 1) }]), runtime, () => t0 + 500);

    // Act: sweeps that each read 10 entries of the shard
    const sweeps = [];
    for (let i = 0; i < 3; i++) sweeps.push(await sweepOnce(runtime, () => t0 + 5_000, { maxPerShard: 10 }));
    const ordinaryState = await runtime.store.getState(ordinary);
    const outcomes = (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === ordinary);

    // Assess
    expect(sweeps.map((s) => s.failed)).toEqual([10, 10, 0]);
    expect(ordinaryState?.status).toBe('timedout');
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '').missing).toEqual(['a', 'b']);
  });

  it('TTL removing a decided group whose outcome was never published publishes it from the stored bytes', async () => {
    // Prepare: a group decided while its destination refused the outcome
    const [group] = idsInOneShard(1) as [string];
    publisher.refused.add(group);
    const t0 = Date.now();
    await processKafkaEvent(kafkaEvent([{ value: create(group, 1) }]), runtime, () => t0);
    await sweepOnce(runtime, () => t0 + 5_000);
    const decided = await runtime.store.getState(group);
    publisher.refused.delete(group);
    const image = {
      pk: { S: keys.state(group).pk },
      sk: { S: keys.state(group).sk },
      kind: { S: 'state' },
      gid: { S: group },
      status: { S: 'timedout' },
      createdMs: { N: String(t0) },
      deadlineMs: { N: String(t0 + 1_000) },
      ttlSeconds: { N: '1' },
      shards: { N: '1' },
      outcomeChunks: { N: String(decided?.outcomeParts ?? 1) },
      outcomeKey: { S: decided?.outcomeKey ?? '' },
      // A small outcome is kept in the state itself (stream images carry binary values as base64).
      ...(decided?.outcomeInline
        ? { outcome: { B: Buffer.from(decided.outcomeInline).toString('base64') } }
        : {}),
      outcomeTopic: { S: runtime.settings.outcomeTopic },
      resolvedMs: { N: String(t0 + 5_000) },
      expiresAt: { N: String(Math.floor(t0 / 1000)) },
    };

    // Act
    const response = await processStreamEvent(
      {
        Records: [
          {
            eventID: '1',
            eventName: 'REMOVE',
            eventSource: 'aws:dynamodb',
            userIdentity: { type: 'Service', principalId: 'dynamodb.amazonaws.com' },
            dynamodb: { OldImage: image, SequenceNumber: '1', StreamViewType: 'NEW_AND_OLD_IMAGES' },
          },
        ],
      } as never,
      runtime,
    );
    const outcomes = (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);

    // Assess
    expect(decided?.status).toBe('timedout');
    expect(decided?.published).toBe(false);
    expect(response.batchItemFailures).toEqual([]);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '').type).toBe('EventGroupCollectorFailure');
  });
});
