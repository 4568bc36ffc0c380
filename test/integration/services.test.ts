import {
  ConditionalCheckFailedException,
  DescribeTableCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { TABLE } from '#store/layout.ts';
import { dynamoClient, freshTopic, kafka, services, uniqueId } from '../helpers/services.ts';

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
});
