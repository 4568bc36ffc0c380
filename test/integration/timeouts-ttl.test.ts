import { DeleteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  type _Record,
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateSigningJwk,
  parseOutcomeKeys,
  parseSigningKeySet,
  SIGNATURE_HEADERS,
  verifyOutcome,
} from '#core/signing.ts';
import type { LocalCollector } from '#local/collector.ts';
import { keys, TABLE } from '#store/layout.ts';
import type { GroupCollectorClient } from '../../client/index.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { sweepOnce } from '../../functions/sweeper/handler.ts';
import { processStreamEvent } from '../../functions/timeouts/handler.ts';
import { drainTopic, kafkaEvent, newGroupId, testRuntime, ttlRemoval } from '../helpers/collector.ts';
import { type CollectorOnTopics, collectorOnFreshTopics } from '../helpers/local-collector.ts';
import {
  dynamoClient,
  freshTable,
  skipWithoutTtlDeletions,
  streamsClient,
  uniqueId,
} from '../helpers/services.ts';

// The tests that wait for DynamoDB Local's TTL sweep run at once: one sweep serves them all.
describe.concurrent('waiting for a TTL deletion', () => {
  describe('the TTL path: DynamoDB removes an expired group, the stream handler times it out', () => {
    let on: CollectorOnTopics;
    let outcomes: string;
    let collector: LocalCollector;
    let client: GroupCollectorClient;

    beforeAll(async () => {
      // No sweeper: only TTL's deletion and the stream handler can time a group out.
      on = await collectorOnFreshTopics('ttl-path', { ownTable: true, sweeper: false });
      ({ outcomes, collector, client } = on);
    });
    afterAll(() => on.stop());

    it('publishes the timeout from the TTL deletion alone (no sweeper), once, even if the sweeper runs afterwards', async (context) => {
      const { expect } = context;
      skipWithoutTtlDeletions(context);

      // Act
      const group = await client.createGroup({ expected: ['a', 'b'], ttl: 2 });
      await client.reportDone(group, 'a', 'A');
      const outcome = await client.awaitOutcome(group, 150_000);
      await sweepOnce(collector.runtimes.sweeper);
      const copies = (await drainTopic(outcomes)).filter((m) => m.key === group);
      const state = await collector.runtimes.collector.store.getState(group);

      // Assess
      expect(outcome).toMatchObject({
        type: 'EventGroupCollectorFailure',
        entity: group,
        error: 'Operation timed out after 2 seconds',
        results: { a: 'A' },
        missing: ['b'],
      });
      expect(copies).toHaveLength(1);
      expect(state?.status).toBe('timedout');
    });

    it('streams a TTL deletion as AWS writes it: REMOVE by the DynamoDB service', async (context) => {
      const { expect } = context;
      skipWithoutTtlDeletions(context);

      // Prepare
      const streams = streamsClient();
      // Its own small table: DynamoDB Local's TTL stalls when the shared table's index is large.
      const { tableName, streamArn } = await freshTable('foundation-ttl');
      const ttlKey = { pk: { S: uniqueId('ttl') }, sk: { S: 'STATE' } };
      const userKey = { pk: { S: uniqueId('user-delete') }, sk: { S: 'STATE' } };
      const expired = Math.floor(Date.now() / 1000) - 5;
      // An open group's STATE item carries the deadline index keys. DynamoDB Local 2.6.1 only
      // TTL-deletes items that are in the table's GSI (see DESIGN.md); AWS deletes every expired item.
      const ttlItem = {
        ...ttlKey,
        [TABLE.ttlAttribute]: { N: String(expired) },
        [TABLE.deadlineIndex.partitionKey]: { S: 'D#0' },
        [TABLE.deadlineIndex.sortKey]: { N: String(expired * 1000) },
      };

      const dynamo = dynamoClient();

      // Act
      await dynamo.send(new PutItemCommand({ TableName: tableName, Item: ttlItem }));
      await dynamo.send(new PutItemCommand({ TableName: tableName, Item: userKey }));
      await dynamo.send(new DeleteItemCommand({ TableName: tableName, Key: userKey }));
      const removals = await waitForRemovals(streams, streamArn, [ttlKey.pk.S, userKey.pk.S], 150_000);
      streams.destroy();
      dynamo.destroy();

      // Assess
      const ttlRemoval = removals.get(ttlKey.pk.S);
      expect(ttlRemoval?.eventName).toBe('REMOVE');
      expect(ttlRemoval?.userIdentity).toEqual({ Type: 'Service', PrincipalId: 'dynamodb.amazonaws.com' });
      expect(ttlRemoval?.dynamodb?.OldImage?.[TABLE.ttlAttribute]).toEqual({ N: String(expired) });
      const userRemoval = removals.get(userKey.pk.S);
      expect(userRemoval?.eventName).toBe('REMOVE');
      expect(userRemoval?.userIdentity).toBeUndefined();
    });
  });

  describe('the TTL path with signing on: the stream handler’s timeout is signed, with the signature stored with its decision', () => {
    const signingKey = generateSigningJwk('ttl-k1', 0);
    const outcomeKeys = parseSigningKeySet({ keys: [signingKey] }).keys.map((k) => k.publicKey);
    let on: CollectorOnTopics;
    let outcomes: string;
    let collector: LocalCollector;
    let client: GroupCollectorClient;

    beforeAll(async () => {
      // No sweeper; a client that takes only outcomes the collector signed.
      on = await collectorOnFreshTopics('ttl-signed', {
        ownTable: true,
        sweeper: false,
        settings: { signingKeys: JSON.stringify({ keys: [signingKey] }) },
        client: { outcomeKeys },
      });
      ({ outcomes, collector, client } = on);
    });
    afterAll(() => on.stop());

    it('a TTL-removed expired group’s timeout verifies, by the key its decision stored', async (context) => {
      skipWithoutTtlDeletions(context);
      const { expect } = context;

      // Act: no sweeper: only TTL's deletion and the stream handler can time the group out
      const group = await client.createGroup({ expected: ['a', 'b'], ttl: 2 });
      await client.reportDone(group, 'a', 'A');
      const outcome = await client.awaitOutcome(group, 150_000);
      const copies = (await drainTopic(outcomes)).filter((m) => m.key === group);
      const state = await collector.runtimes.timeouts.store.getState(group);

      // Assess
      expect(outcome).toMatchObject({
        type: 'EventGroupCollectorFailure',
        reason: 'timeout',
        missing: ['b'],
      });
      expect(client.refusedOutcomes).toMatchObject({ unsigned: 0, invalid: 0 });
      expect(copies).toHaveLength(1);
      const [copy] = copies;
      const record = { topic: outcomes, key: group, value: Buffer.from(copy?.value ?? '') };
      expect(verifyOutcome(parseOutcomeKeys(outcomeKeys), { ...record, headers: copy?.headers })).toBe(
        'valid',
      );
      expect(state?.status).toBe('timedout');
      expect(state?.signature).toEqual({
        keyId: 'ttl-k1',
        signature: copy?.headers[SIGNATURE_HEADERS.signature],
      });
    });
  });
});

describe('the timeouts handler on stream records', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  beforeAll(async () => {
    runtime = await testRuntime();
  });
  afterAll(() => runtime.close());

  it('publishes nothing new for a TTL removal of a group that already has an outcome', async () => {
    // Prepare: a group that succeeded; its STATE image as TTL would remove it after retention
    const group = newGroupId();
    await processKafkaEvent(
      kafkaEvent([
        { value: JSON.stringify({ id: group, type: 'EventGroupCollectorCreate', expected: ['a'], ttl: 60 }) },
        { value: JSON.stringify({ id: 'a', type: 'EventGroupCollectorEntityDone', group }) },
      ]),
      runtime,
    );
    const before = (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);
    const image = {
      pk: { S: keys.state(group).pk },
      sk: { S: keys.state(group).sk },
      kind: { S: 'state' },
      gid: { S: group },
      status: { S: 'open' },
      createdMs: { N: String(Date.now() - 120_000) },
      deadlineMs: { N: String(Date.now() - 60_000) },
      ttlSeconds: { N: '60' },
      shards: { N: '1' },
      expiresAt: { N: String(Math.floor(Date.now() / 1000) - 60) },
    };

    // Act: even a stale "open" image of a decided group changes nothing
    const response = await processStreamEvent(ttlRemoval(image), runtime);
    const after = (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(before).toHaveLength(1);
    expect(after).toHaveLength(1);
    expect((await runtime.store.getState(group))?.status).toBe('succeeded');
  });
});

/** Reads every shard of the stream from the start until REMOVE records for all keys are seen. */
async function waitForRemovals(
  streams: ReturnType<typeof streamsClient>,
  streamArn: string,
  pks: string[],
  timeoutMs: number,
): Promise<Map<string, _Record>> {
  const found = new Map<string, _Record>();
  const started = Date.now();
  const iterators = new Map<string, string | undefined>();
  while (Date.now() - started < timeoutMs && found.size < pks.length) {
    const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    // A new table's stream is ENABLING at first, and not yet readable.
    const shards = StreamDescription?.StreamStatus === 'ENABLING' ? [] : (StreamDescription?.Shards ?? []);
    for (const shard of shards) {
      const shardId = shard.ShardId ?? '';
      if (!iterators.has(shardId)) {
        const { ShardIterator } = await streams.send(
          new GetShardIteratorCommand({
            StreamArn: streamArn,
            ShardId: shardId,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
        );
        iterators.set(shardId, ShardIterator);
      }
      const iterator = iterators.get(shardId);
      if (!iterator) continue;
      const { Records, NextShardIterator } = await streams.send(
        new GetRecordsCommand({ ShardIterator: iterator }),
      );
      iterators.set(shardId, NextShardIterator);
      for (const record of Records ?? []) {
        const pk = record.dynamodb?.Keys?.pk?.S;
        if (pk && pks.includes(pk) && record.eventName === 'REMOVE') found.set(pk, record);
      }
    }
    if (found.size < pks.length) await new Promise((r) => setTimeout(r, 250));
  }
  return found;
}
