import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DescribeTableCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  type _Record,
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { afterAll, describe, expect, it } from 'vitest';
import { TABLE } from '#store/layout.ts';
import {
  dynamoClient,
  freshTable,
  freshTopic,
  kafka,
  services,
  skipWithoutTtlDeletions,
  streamsClient,
  uniqueId,
} from '../helpers/services.ts';

describe('real Kafka broker', () => {
  it('produces, consumes with a group, and commits offsets through kafkajs', async () => {
    // Prepare
    const topic = await freshTopic('foundation', 2);
    const client = kafka();
    const producer = client.producer({ idempotent: true, maxInFlightRequests: 1 });
    const groupId = uniqueId('group');
    const consumer = client.consumer({ groupId });
    const admin = client.admin();
    await Promise.all([producer.connect(), consumer.connect(), admin.connect()]);
    await consumer.subscribe({ topic, fromBeginning: true });
    const seen: string[] = [];

    // Act
    await producer.send({
      topic,
      acks: -1,
      messages: [{ key: 'a', value: 'one' }, { key: 'b', value: 'two' }, { value: 'three' }],
    });
    await new Promise<void>((resolve) => {
      void consumer.run({
        autoCommit: false,
        eachMessage: async ({ topic: t, partition, message }) => {
          seen.push(message.value?.toString() ?? '');
          await consumer.commitOffsets([
            { topic: t, partition, offset: (BigInt(message.offset) + 1n).toString() },
          ]);
          if (seen.length === 3) resolve();
        },
      });
    });
    await consumer.disconnect();
    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });

    // Assess
    expect(seen.sort()).toEqual(['one', 'three', 'two']);
    const total = committed[0]?.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
    expect(total).toBe(3);
    await Promise.all([producer.disconnect(), admin.disconnect()]);
  });
});

describe('real DynamoDB Local', () => {
  const client = dynamoClient();
  afterAll(() => client.destroy());

  it('has the collector table with its stream and deadline index', async () => {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: services().tableName }));
    expect(Table?.StreamSpecification?.StreamViewType).toBe(TABLE.streamViewType);
    expect(Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName)).toEqual([TABLE.deadlineIndex.name]);
  });

  it('returns the old item when a conditional update fails (ReturnValuesOnConditionCheckFailure)', async () => {
    // Prepare
    const key = { pk: { S: uniqueId('cond') }, sk: { S: 'STATE' } };
    await client.send(
      new PutItemCommand({ TableName: services().tableName, Item: { ...key, status: { S: 'decided' } } }),
    );

    // Act
    const failure = await client
      .send(
        new UpdateItemCommand({
          TableName: services().tableName,
          Key: key,
          UpdateExpression: 'SET #s = :new',
          ConditionExpression: '#s = :open',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':new': { S: 'other' }, ':open': { S: 'open' } },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      )
      .catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(ConditionalCheckFailedException);
    expect((failure as ConditionalCheckFailedException).Item?.status).toEqual({ S: 'decided' });
  });

  it('streams a TTL deletion as AWS writes it: REMOVE by the DynamoDB service', async (context) => {
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

    // Act
    await client.send(new PutItemCommand({ TableName: tableName, Item: ttlItem }));
    await client.send(new PutItemCommand({ TableName: tableName, Item: userKey }));
    await client.send(new DeleteItemCommand({ TableName: tableName, Key: userKey }));
    const removals = await waitForRemovals(streams, streamArn, [ttlKey.pk.S, userKey.pk.S], 150_000);
    streams.destroy();

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
