import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type StreamEventSource,
  type StreamEventSourceOptions,
  shapeOf,
  startStreamEventSource,
} from '#local/esm/index.ts';
import { TABLE, TTL_STREAM_FILTERS } from '#store/layout.ts';
import {
  dynamoClient,
  freshTable,
  skipWithoutTtlDeletions,
  streamsClient,
  uniqueId,
} from '../helpers/services.ts';

const awsEvents = join(import.meta.dirname, '..', '..', 'events', 'aws');
const ttlSample = JSON.parse(readFileSync(join(awsEvents, 'dynamodb-stream-ttl-remove.json'), 'utf8'))
  .Records[0];

async function waitUntil(what: string, check: () => boolean, timeoutMs = 30_000) {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The record's structure; attribute names in Keys and images are data, so only their values' shapes count. */
const structure = (record: DynamoDBRecord | undefined) => {
  const images = Object.fromEntries(
    (['Keys', 'NewImage', 'OldImage'] as const)
      .filter((name) => record?.dynamodb?.[name])
      .map((name) => [
        name,
        new Set(Object.values(record?.dynamodb?.[name] ?? {}).map((v) => JSON.stringify(shapeOf(v)))),
      ]),
  );
  return {
    ...(shapeOf(record) as object),
    dynamodb: { ...(shapeOf(record?.dynamodb) as object), ...images },
  };
};

const pkOf = (r: DynamoDBRecord) => r.dynamodb?.Keys?.pk?.S ?? '';

describe('DynamoDB stream event source emulator on DynamoDB Local', () => {
  const dynamo = dynamoClient();
  const streams = streamsClient();
  let source: StreamEventSource | undefined;
  // Its own small table: DynamoDB Local's TTL stalls when the shared table's index is large.
  let table: { tableName: string; streamArn: string };
  beforeAll(async () => {
    table = await freshTable('esm-stream');
  });

  afterEach(async () => {
    await source?.stop();
    source = undefined;
  });
  afterAll(() => {
    dynamo.destroy();
    streams.destroy();
  });

  const start = async (options: Omit<StreamEventSourceOptions, 'streamArn' | 'client'>) => {
    source = await startStreamEventSource({
      streamArn: table.streamArn,
      client: streams,
      startingPosition: 'LATEST',
      backoff: { initialMs: 50, maxMs: 200 },
      ...options,
    });
    return source;
  };

  const put = (item: Record<string, { S: string } | { N: string }>) =>
    dynamo.send(new PutItemCommand({ TableName: table.tableName, Item: item }));

  it('delivers a TTL deletion through TTL_STREAM_FILTERS, and not an ordinary delete', async (context) => {
    skipWithoutTtlDeletions(context);

    // Prepare
    const ttlPk = uniqueId('esm-ttl');
    const userPk = uniqueId('esm-user-delete');
    const mine = new Set([ttlPk, userPk]);
    const received: DynamoDBRecord[] = [];
    await start({
      filters: TTL_STREAM_FILTERS,
      handler: (event) => {
        received.push(...event.Records.filter((r) => mine.has(pkOf(r))));
      },
    });
    const expired = Math.floor(Date.now() / 1000) - 5;
    // An open group's STATE item: DynamoDB Local 2.6.1 only TTL-deletes items carrying the GSI keys.
    const openState = {
      sk: { S: 'STATE' },
      kind: { S: 'state' },
      status: { S: 'open' },
      [TABLE.ttlAttribute]: { N: String(expired) },
      [TABLE.deadlineIndex.partitionKey]: { S: 'D#0' },
      [TABLE.deadlineIndex.sortKey]: { N: String(expired * 1000) },
    };

    // Act
    await put({ pk: { S: ttlPk }, ...openState });
    await put({ pk: { S: userPk }, ...openState, [TABLE.ttlAttribute]: { N: String(expired + 3600) } });
    await dynamo.send(
      new DeleteItemCommand({
        TableName: table.tableName,
        Key: { pk: { S: userPk }, sk: { S: 'STATE' } },
      }),
    );
    await waitUntil('the TTL deletion', () => received.length > 0, 150_000);
    // The two inserts and the ordinary delete are read and dropped (they precede the TTL deletion).
    await waitUntil('the other records filtered out', () => (source?.stats().recordsFilteredOut ?? 0) >= 3);

    // Assess
    expect(received.map(pkOf)).toEqual([ttlPk]);
    const [record] = received;
    expect(structure(record)).toEqual(structure(ttlSample));
    expect(record).toMatchObject({
      eventName: 'REMOVE',
      eventSource: 'aws:dynamodb',
      eventSourceARN: table.streamArn,
      userIdentity: { type: 'Service', principalId: 'dynamodb.amazonaws.com' },
      dynamodb: { StreamViewType: TABLE.streamViewType, OldImage: { status: { S: 'open' } } },
    });
    const created = record?.dynamodb?.ApproximateCreationDateTime ?? 0;
    expect(Number.isInteger(created)).toBe(true);
    expect(Math.abs(created - Date.now() / 1000)).toBeLessThan(120);
    expect(source?.stats().recordsFilteredOut).toBeGreaterThanOrEqual(3);
  });

  it('retries from the lowest failed sequence number of a partial batch response', async () => {
    // Prepare
    const prefix = uniqueId('esm-partial');
    const deliveries: string[] = [];
    let failedOnce = false;
    let lastSequence: string | undefined;
    await start({
      filters: [{ eventName: ['INSERT'], dynamodb: { Keys: { pk: { S: [{ prefix }] } } } }],
      handler: (event) => {
        deliveries.push(...event.Records.map(pkOf));
        const third = event.Records.find((r) => pkOf(r) === `${prefix}-3`);
        lastSequence = third?.dynamodb?.SequenceNumber ?? lastSequence;
        const second = event.Records.find((r) => pkOf(r) === `${prefix}-2`);
        if (second && !failedOnce) {
          failedOnce = true;
          return { batchItemFailures: [{ itemIdentifier: second.dynamodb?.SequenceNumber }] };
        }
        return { batchItemFailures: [] };
      },
    });

    // Act
    for (const n of [1, 2, 3]) await put({ pk: { S: `${prefix}-${n}` }, sk: { S: 'x' } });
    await waitUntil(
      'every record processed after the retry',
      () =>
        deliveries.filter((d) => d.endsWith('-3')).length > 0 &&
        deliveries.filter((d) => d.endsWith('-2')).length === 2,
    );
    // Once the checkpoint is past the last record, nothing before it can be delivered again.
    await waitUntil('the checkpoint past the last record', () =>
      Object.values(source?.stats().checkpoints ?? {}).some(
        (c) => lastSequence !== undefined && BigInt(c) >= BigInt(lastSequence),
      ),
    );

    // Assess
    const count = (n: number) => deliveries.filter((d) => d === `${prefix}-${n}`).length;
    expect([count(1), count(2)]).toEqual([1, 2]);
    expect(count(3)).toBeGreaterThanOrEqual(1);
    expect(deliveries.lastIndexOf(`${prefix}-2`)).toBeLessThan(deliveries.lastIndexOf(`${prefix}-3`));
  });

  it('gives up on a failing record after maximumRetryAttempts, reports it and moves on', async () => {
    // Prepare
    const prefix = uniqueId('esm-poison');
    const calls: string[][] = [];
    const failures: unknown[] = [];
    await start({
      filters: [{ eventName: ['INSERT'], dynamodb: { Keys: { pk: { S: [{ prefix }] } } } }],
      maximumRetryAttempts: 2,
      bisectBatchOnFunctionError: false,
      onFailure: (failure) => {
        failures.push(failure);
      },
      handler: (event) => {
        const pks = event.Records.map(pkOf);
        calls.push(pks);
        if (pks.includes(`${prefix}-poison`)) throw new Error('cannot process');
      },
    });

    // Act
    await put({ pk: { S: `${prefix}-poison` }, sk: { S: 'x' } });
    await waitUntil('the record given up on', () => failures.length === 1);
    await put({ pk: { S: `${prefix}-next` }, sk: { S: 'x' } });
    await waitUntil('the next record', () => calls.some((c) => c.includes(`${prefix}-next`)));

    // Assess
    expect(calls.filter((c) => c.includes(`${prefix}-poison`)).length).toBe(3);
    expect(failures[0]).toMatchObject({
      requestContext: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 3 },
      DDBStreamBatchInfo: { batchSize: 1, streamArn: table.streamArn },
    });
  });
});
