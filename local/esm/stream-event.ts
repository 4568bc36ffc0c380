import type { _Record, AttributeValue } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord, AttributeValue as LambdaAttributeValue } from 'aws-lambda';
import { lowestReportedFailure } from './batch-response.ts';

/**
 * DynamoDB Streams records (as the AWS SDK returns them from GetRecords) in the
 * form Lambda delivers them: https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html
 * - `userIdentity` is lowercase `{type, principalId}` in Lambda events, while the
 *   Streams API (and the SDK, and DynamoDB Local) spell it `{Type, PrincipalId}`:
 *   https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/time-to-live-ttl-streams.html,
 *   aws/aws-sdk-js-v3 #4878.
 * - `ApproximateCreationDateTime` is epoch seconds (a number), the SDK gives a Date.
 * - Binary attributes are base64 strings in the JSON event, Uint8Array in the SDK.
 * Pure: no I/O.
 */
export function toLambdaStreamRecord(
  record: _Record,
  streamArn: string,
  region: string,
  /** The table's key attributes (the stream's KeySchema); other attributes are dropped from `Keys`. */
  keyAttributes?: readonly string[],
): DynamoDBRecord {
  const d = record.dynamodb ?? {};
  // DynamoDB Local 2.6.1 lists the GSI keys in `Keys` of a TTL deletion; AWS lists the table's key only.
  const keys =
    d.Keys && keyAttributes?.length
      ? Object.fromEntries(Object.entries(d.Keys).filter(([name]) => keyAttributes.includes(name)))
      : d.Keys;
  const created = d.ApproximateCreationDateTime;
  const identity = record.userIdentity;
  return {
    ...(record.eventID === undefined ? {} : { eventID: record.eventID }),
    ...(record.eventName === undefined ? {} : { eventName: record.eventName }),
    eventVersion: record.eventVersion ?? '1.1',
    eventSource: record.eventSource ?? 'aws:dynamodb',
    // DynamoDB Local writes `ddblocal`; Lambda delivers the stream's Region.
    awsRegion: record.awsRegion && record.awsRegion !== 'ddblocal' ? record.awsRegion : region,
    dynamodb: {
      ...(created === undefined
        ? {}
        : { ApproximateCreationDateTime: Math.floor(new Date(created).getTime() / 1000) }),
      ...(keys ? { Keys: image(keys) } : {}),
      ...(d.NewImage ? { NewImage: image(d.NewImage) } : {}),
      ...(d.OldImage ? { OldImage: image(d.OldImage) } : {}),
      ...(d.SequenceNumber === undefined ? {} : { SequenceNumber: d.SequenceNumber }),
      ...(d.SizeBytes === undefined ? {} : { SizeBytes: d.SizeBytes }),
      ...(d.StreamViewType === undefined ? {} : { StreamViewType: d.StreamViewType }),
    },
    ...(identity ? { userIdentity: { type: identity.Type, principalId: identity.PrincipalId } } : {}),
    eventSourceARN: streamArn,
  };
}

function image(attributes: Record<string, AttributeValue>): Record<string, LambdaAttributeValue> {
  return Object.fromEntries(Object.entries(attributes).map(([name, value]) => [name, attribute(value)]));
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/** One attribute value in its JSON wire form. */
export function attribute(value: AttributeValue): LambdaAttributeValue {
  if (value.S !== undefined) return { S: value.S };
  if (value.N !== undefined) return { N: value.N };
  if (value.B !== undefined) return { B: b64(value.B) };
  if (value.SS !== undefined) return { SS: value.SS };
  if (value.NS !== undefined) return { NS: value.NS };
  if (value.BS !== undefined) return { BS: value.BS.map(b64) };
  if (value.M !== undefined) return { M: image(value.M) };
  if (value.L !== undefined) return { L: value.L.map(attribute) };
  if (value.NULL !== undefined) return { NULL: value.NULL };
  if (value.BOOL !== undefined) return { BOOL: value.BOOL };
  throw new TypeError(`unknown attribute value ${JSON.stringify(value)}`);
}

/**
 * Index of the lowest record a DynamoDB partial batch response reports as failed:
 * `{"batchItemFailures":[{"itemIdentifier":"<SequenceNumber>"}]}`. -1 = success
 * (no response, null or empty list); 0 = the whole batch failed (an empty, null or
 * unknown identifier, or a malformed response).
 * https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html
 */
export function lowestStreamFailure(records: readonly DynamoDBRecord[], response: unknown): number {
  return lowestReportedFailure(response, (id) =>
    typeof id === 'string' && id !== '' ? records.findIndex((r) => r.dynamodb?.SequenceNumber === id) : -1,
  );
}

export interface StreamFailureContext {
  requestId: string;
  functionArn: string;
  condition: string;
  approximateInvokeCount: number;
  functionError: string | undefined;
  shardId: string;
  streamArn: string;
  now: number;
}

/**
 * The on-failure record Lambda sends to an SQS/SNS destination for a DynamoDB stream
 * batch: metadata only, no data. https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html
 */
export function streamFailureRecord(records: readonly DynamoDBRecord[], ctx: StreamFailureContext) {
  const first = records[0]?.dynamodb;
  const last = records.at(-1)?.dynamodb;
  const iso = (seconds: number | undefined) =>
    seconds === undefined ? undefined : new Date(seconds * 1000).toISOString();
  return {
    requestContext: {
      requestId: ctx.requestId,
      functionArn: ctx.functionArn,
      condition: ctx.condition,
      approximateInvokeCount: ctx.approximateInvokeCount,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: ctx.functionError ?? '' },
    version: '1.0',
    timestamp: new Date(ctx.now).toISOString(),
    DDBStreamBatchInfo: {
      shardId: ctx.shardId,
      startSequenceNumber: first?.SequenceNumber,
      endSequenceNumber: last?.SequenceNumber,
      approximateArrivalOfFirstRecord: iso(first?.ApproximateCreationDateTime),
      approximateArrivalOfLastRecord: iso(last?.ApproximateCreationDateTime),
      batchSize: records.length,
      streamArn: ctx.streamArn,
    },
  };
}
