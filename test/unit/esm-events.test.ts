import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { matchesAnyFilter } from '#local/esm/filter.ts';
import {
  buildKafkaEvent,
  LOCAL_CLUSTER_ARN,
  lowestKafkaFailure,
  lowestStreamFailure,
  onFailureRecord,
  streamFailureRecord,
  toLambdaKafkaRecord,
  toLambdaStreamRecord,
} from '#local/esm/index.ts';
import { shapeOf } from '#local/esm/shape.ts';
import { TTL_STREAM_FILTERS } from '#store/layout.ts';

const awsEvents = join(import.meta.dirname, '..', '..', 'events', 'aws');
const readJson = (name: string) => JSON.parse(readFileSync(join(awsEvents, name), 'utf8'));

const message = (overrides: Partial<KafkaMessage> = {}): KafkaMessage =>
  ({
    key: Buffer.from('recordKey'),
    value: Buffer.from('{"key":"value"}'),
    timestamp: '1545084650987',
    attributes: 0,
    offset: '15',
    headers: { headerKey: Buffer.from('headerValue') },
    ...overrides,
  }) as KafkaMessage;

describe('Kafka event built by the emulator (local/esm/kafka-event.ts)', () => {
  it('has the structure of the recorded MSK event, record for record', () => {
    // Prepare
    const sample = readJson('msk-event.json');
    const source = {
      form: 'msk' as const,
      eventSourceArn: LOCAL_CLUSTER_ARN,
      bootstrapServers: 'b-1:9092,b-2:9092',
    };

    // Act
    const event = buildKafkaEvent(
      [
        toLambdaKafkaRecord('mytopic', 0, message()),
        toLambdaKafkaRecord('mytopic', 0, message({ key: null, offset: '16', timestamp: '1545084650988' })),
      ],
      source,
    );

    // Assess
    expect(shapeOf(event)).toEqual(shapeOf(sample));
    expect(event).toEqual({
      ...sample,
      eventSourceArn: LOCAL_CLUSTER_ARN,
      bootstrapServers: 'b-1:9092,b-2:9092',
    });
  });

  it('has the structure of the recorded self-managed event (no eventSourceArn)', () => {
    const sample = readJson('self-managed-kafka-event.json');
    const event = buildKafkaEvent([toLambdaKafkaRecord('mytopic', 0, message())], {
      form: 'self-managed',
      eventSourceArn: LOCAL_CLUSTER_ARN,
      bootstrapServers: sample.bootstrapServers,
    });
    expect(event).toEqual(sample);
  });

  it('omits key and value of a keyless tombstone, lists repeated headers once per value', () => {
    // Act
    const record = toLambdaKafkaRecord(
      't',
      2,
      message({ key: null, value: null, headers: { h: [Buffer.from('a'), Buffer.from('b')], s: 'x' } }),
      'LOG_APPEND_TIME',
    );

    // Assess
    expect(record).not.toHaveProperty('key');
    expect(record).not.toHaveProperty('value');
    expect(record.headers).toEqual([{ h: [97] }, { h: [98] }, { s: [120] }]);
    expect(record.timestampType).toBe('LOG_APPEND_TIME');
  });

  it('groups records by "<topic>-<partition>"', () => {
    const source = { form: 'msk' as const, eventSourceArn: 'arn', bootstrapServers: 'b' };
    const event = buildKafkaEvent(
      [
        toLambdaKafkaRecord('a-b', 1, message({ offset: '1' })),
        toLambdaKafkaRecord('a-b', 0, message({ offset: '2' })),
        toLambdaKafkaRecord('a-b', 1, message({ offset: '3' })),
      ],
      source,
    );
    expect(Object.keys(event.records)).toEqual(['a-b-1', 'a-b-0']);
    expect(event.records['a-b-1']?.map((r) => r.offset)).toEqual([1, 3]);
  });

  describe('partial batch response', () => {
    const records = [10, 11, 12].map((o) => toLambdaKafkaRecord('t', 0, message({ offset: String(o) })));
    const failure = (partition: string, offset: number) => ({ itemIdentifier: { partition, offset } });

    it.each([
      ['no response', undefined, -1],
      ['null', null, -1],
      ['an empty list', { batchItemFailures: [] }, -1],
      ['a null list', { batchItemFailures: null }, -1],
      ['one failure', { batchItemFailures: [failure('t-0', 11)] }, 1],
      ['the lowest of several', { batchItemFailures: [failure('t-0', 12), failure('t-0', 11)] }, 1],
      ['an offset not in the batch', { batchItemFailures: [failure('t-0', 99)] }, 0],
      ['another partition', { batchItemFailures: [failure('t-1', 11)] }, 0],
      ['a malformed list', { batchItemFailures: 'x' }, 0],
      ['a missing identifier', { batchItemFailures: [{}] }, 0],
    ])('%s (%j) → index %i', (_, response, expected) => {
      expect(lowestKafkaFailure(records, response)).toBe(expected);
    });
  });

  it('writes one on-failure record per failed record with its metadata and payload', () => {
    // Prepare
    const records = [toLambdaKafkaRecord('t', 0, message({ offset: '7' }))];
    const source = { form: 'msk' as const, eventSourceArn: 'arn:cluster', bootstrapServers: 'b:9092' };

    // Act
    const value = onFailureRecord(records[0] as (typeof records)[0], {
      requestId: 'r',
      functionArn: 'arn:fn',
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 3,
      functionError: 'Unhandled',
      batch: records,
      source,
      now: 0,
    });

    // Assess
    expect(value).toMatchObject({
      requestContext: {
        requestId: 'r',
        functionArn: 'arn:fn',
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: 3,
      },
      version: '1.0',
      KafkaBatchInfo: {
        batchSize: 1,
        eventSourceArn: 'arn:cluster',
        bootstrapServers: 'b:9092',
        recordInfo: { offset: '7' },
      },
      payload: buildKafkaEvent(records, source),
    });
  });
});

describe('DynamoDB stream record converted by the emulator (local/esm/stream-event.ts)', () => {
  const streamArn = 'arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2026-01-01T00:00:00.000';
  /** A TTL deletion as the AWS SDK returns it from DynamoDB Local's GetRecords. */
  const sdkRecord = (): _Record => ({
    eventID: 'c4ca4238a0b923820dcc509a6f75849b',
    eventName: 'REMOVE',
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'ddblocal',
    dynamodb: {
      ApproximateCreationDateTime: new Date(1428537600_400),
      Keys: { pk: { S: 'SESSION#abc123' }, sk: { S: 'STATE' } },
      OldImage: { pk: { S: 'SESSION#abc123' }, sk: { S: 'STATE' }, expiresAt: { N: '1428537590' } },
      SequenceNumber: '4421584500000000017450439091',
      SizeBytes: 74,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    },
    userIdentity: { Type: 'Service', PrincipalId: 'dynamodb.amazonaws.com' },
  });

  it('has the structure of the recorded TTL removal: lowercase userIdentity, epoch seconds', () => {
    // Prepare
    const sample = readJson('dynamodb-stream-ttl-remove.json').Records[0];

    // Act
    const record = toLambdaStreamRecord(sdkRecord(), streamArn, 'us-east-1');

    // Assess
    expect(shapeOf(record)).toEqual(shapeOf(sample));
    expect(record.userIdentity).toEqual({ type: 'Service', principalId: 'dynamodb.amazonaws.com' });
    expect(record.dynamodb?.ApproximateCreationDateTime).toBe(1428537600);
    expect(record).toEqual({ ...sample, eventSourceARN: streamArn });
  });

  it('has the structure of the recorded INSERT (no userIdentity) and converts binary attributes', () => {
    // Prepare
    const sample = readJson('dynamodb-stream-event.json').Records[0];
    const insert: _Record = {
      eventID: '1',
      eventName: 'INSERT',
      eventVersion: '1.0',
      eventSource: 'aws:dynamodb',
      awsRegion: 'us-west-2',
      dynamodb: {
        ApproximateCreationDateTime: new Date(1693997155_000),
        Keys: { Id: { N: '101' } },
        NewImage: { Message: { S: 'New item!' }, Id: { N: '101' } },
        StreamViewType: 'NEW_IMAGE',
        SequenceNumber: '111',
        SizeBytes: 26,
      },
    };
    const binary: _Record = {
      ...insert,
      dynamodb: {
        NewImage: {
          b: { B: new Uint8Array([1, 2]) },
          m: { M: { l: { L: [{ BS: [new Uint8Array([255])] }, { NULL: true }, { BOOL: false }] } } },
        },
      },
    };

    // Act
    const record = toLambdaStreamRecord(insert, 'eventsource_arn', 'us-west-2');
    const converted = toLambdaStreamRecord(binary, 'arn', 'us-west-2');

    // Assess
    expect(shapeOf(record)).toEqual(shapeOf(sample));
    expect(record).toEqual(sample);
    expect(converted.dynamodb?.NewImage).toEqual({
      b: { B: 'AQI=' },
      m: { M: { l: { L: [{ BS: ['/w=='] }, { NULL: true }, { BOOL: false }] } } },
    });
  });

  it('keeps only the table key in Keys (DynamoDB Local adds the GSI keys to a TTL deletion) and replaces ddblocal', () => {
    // Prepare
    const record = sdkRecord();
    record.dynamodb = {
      ...record.dynamodb,
      Keys: { pk: { S: 'p' }, sk: { S: 's' }, dlShard: { S: 'D#0' }, dlAt: { N: '1' } },
    };

    // Act
    const converted = toLambdaStreamRecord(record, streamArn, 'eu-west-1', ['pk', 'sk']);

    // Assess
    expect(converted.dynamodb?.Keys).toEqual({ pk: { S: 'p' }, sk: { S: 's' } });
    expect(converted.awsRegion).toBe('eu-west-1');
  });

  it('converts to what TTL_STREAM_FILTERS select', () => {
    const record = sdkRecord();
    record.dynamodb = { ...record.dynamodb, OldImage: { kind: { S: 'state' }, status: { S: 'open' } } };
    expect(matchesAnyFilter(toLambdaStreamRecord(record, streamArn, 'us-east-1'), TTL_STREAM_FILTERS)).toBe(
      true,
    );
  });

  describe('partial batch response', () => {
    const records = ['100', '200', '300'].map((seq) =>
      toLambdaStreamRecord({ ...sdkRecord(), dynamodb: { SequenceNumber: seq } }, streamArn, 'us-east-1'),
    );
    it.each([
      ['no response', undefined, -1],
      ['an empty list', { batchItemFailures: [] }, -1],
      ['one failure', { batchItemFailures: [{ itemIdentifier: '200' }] }, 1],
      [
        'the lowest of several',
        { batchItemFailures: [{ itemIdentifier: '300' }, { itemIdentifier: '200' }] },
        1,
      ],
      ['an empty identifier', { batchItemFailures: [{ itemIdentifier: '' }] }, 0],
      ['a null identifier', { batchItemFailures: [{ itemIdentifier: null }] }, 0],
      ['a bad key name', { batchItemFailures: [{ itemId: '200' }] }, 0],
      ['an unknown sequence number', { batchItemFailures: [{ itemIdentifier: '999' }] }, 0],
    ])('%s (%j) → index %i', (_, response, expected) => {
      expect(lowestStreamFailure(records, response)).toBe(expected);
    });
  });

  it('describes a discarded batch with DDBStreamBatchInfo (metadata only)', () => {
    const records = [toLambdaStreamRecord(sdkRecord(), streamArn, 'us-east-1')];
    const failure = streamFailureRecord(records, {
      requestId: 'r',
      functionArn: 'arn:fn',
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 2,
      functionError: 'Unhandled',
      shardId: 'shardId-1',
      streamArn,
      now: 0,
    });
    expect(failure.DDBStreamBatchInfo).toEqual({
      shardId: 'shardId-1',
      startSequenceNumber: '4421584500000000017450439091',
      endSequenceNumber: '4421584500000000017450439091',
      approximateArrivalOfFirstRecord: '2015-04-09T00:00:00.000Z',
      approximateArrivalOfLastRecord: '2015-04-09T00:00:00.000Z',
      batchSize: 1,
      streamArn,
    });
    expect(failure).not.toHaveProperty('payload');
  });
});
