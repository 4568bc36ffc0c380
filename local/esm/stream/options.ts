import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { LOCAL } from '#local/settings.ts';
import { FUNCTIONS, STREAM_ESM } from '#shared/aws.ts';
import type { InvokeOptions, LambdaHandler } from '../context.ts';
import { EventSourceConfigurationError } from '../errors.ts';
import { type FilterPattern, validatePattern } from '../filter.ts';
import { type Backoff, DEFAULT_BACKOFF, type ErrorHandling } from '../retry.ts';
import type { streamFailureRecord } from '../stream-event.ts';

/**
 * A local stand-in for Lambda's DynamoDB Streams event source mapping, polling
 * the stream of a table on DynamoDB Local (or any Streams endpoint).
 *
 * Behaviour and its sources (AWS Lambda developer guide):
 * - Polls every shard (about four times a second), one batch in flight per shard,
 *   a child shard only after its parent is done (records of an item stay in order):
 *   with-ddb.html; DynamoDB developer guide Streams.html (shard lineage).
 * - Event shape: stream-event.ts (with-ddb.html).
 * - Filter criteria: records that match no pattern are dropped and count as
 *   processed: invocation-eventfiltering.html, with-ddb-filtering.html.
 * - BatchSize, MaximumBatchingWindowInSeconds, StartingPosition: services-ddb-params.html.
 * - Retries until success, MaximumRetryAttempts or MaximumRecordAgeInSeconds, bisection,
 *   on-failure record (metadata only): services-dynamodb-errors.html.
 * - ReportBatchItemFailures (itemIdentifier = SequenceNumber; checkpoint at the lowest
 *   failed one): services-ddb-batchfailurereporting.html.
 */
export interface StreamEventSourceOptions {
  streamArn: string;
  /** A Streams client; or `endpoint` (+ `region`) for DynamoDB Local. */
  client?: DynamoDBStreamsClient;
  endpoint?: string;
  region?: string;
  handler: LambdaHandler<DynamoDBStreamEvent>;
  /** Filter criteria (OR-ed), e.g. TTL_STREAM_FILTERS. None = every record. */
  filters?: readonly FilterPattern[];
  batchSize?: number;
  maximumBatchingWindowSeconds?: number;
  startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  maximumRetryAttempts?: number;
  maximumRecordAgeSeconds?: number;
  bisectBatchOnFunctionError?: boolean;
  reportBatchItemFailures?: boolean;
  /** The on-failure destination (SQS/SNS on AWS): receives the metadata record Lambda would send. */
  onFailure?: (
    failure: ReturnType<typeof streamFailureRecord>,
    records: readonly DynamoDBRecord[],
  ) => unknown;
  functionName?: string;
  timeoutMs?: number;
  enforceTimeout?: boolean;
  memoryMb?: number;
  backoff?: Backoff;
  /** How often an idle shard is polled; Lambda polls about four times a second. */
  pollIntervalMs?: number;
  /**
   * How often the stream is described to find new shards when none closed (default 30 s).
   * A closed shard, or no open shard, triggers a discovery within a second.
   */
  discoveryIntervalMs?: number;
  log?: (line: string) => void;
}

export interface StreamEventSourceStats {
  invocations: number;
  failedInvocations: number;
  retries: number;
  recordsRead: number;
  recordsFilteredOut: number;
  recordsDelivered: number;
  recordsDiscarded: number;
  /** Shards seen / finished (closed and fully processed). */
  shards: number;
  finishedShards: number;
  /** The checkpoint (last processed sequence number) per shard. */
  checkpoints: Record<string, string>;
}

/** The options with every default applied and checked: what the parts of the emulator read. */
export interface StreamSettings {
  streamArn: string;
  region: string;
  startingPosition: 'TRIM_HORIZON' | 'LATEST';
  batchSize: number;
  windowMs: number;
  pollMs: number;
  discoveryIntervalMs: number;
  handling: ErrorHandling;
  backoff: Backoff;
  filters: readonly FilterPattern[] | undefined;
  invoke: InvokeOptions;
  log: (line: string) => void;
}

const DEFAULT_FUNCTION = FUNCTIONS.timeouts;

/** Applies the defaults; throws what CreateEventSourceMapping would refuse, before anything connects. */
export function resolveStreamSettings(options: StreamEventSourceOptions): StreamSettings {
  const region = options.region ?? process.env.AWS_REGION ?? LOCAL.region;
  if (!options.client && !options.endpoint) {
    throw new EventSourceConfigurationError('give a Streams client or an endpoint');
  }
  const batchSize = options.batchSize ?? STREAM_ESM.batchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new EventSourceConfigurationError(`batchSize must be 1..10000, got ${batchSize}`);
  }
  for (const pattern of options.filters ?? []) validatePattern(pattern);
  return {
    streamArn: options.streamArn,
    region,
    startingPosition: options.startingPosition ?? STREAM_ESM.startingPosition,
    batchSize,
    windowMs: (options.maximumBatchingWindowSeconds ?? STREAM_ESM.maximumBatchingWindowSeconds) * 1000,
    pollMs: options.pollIntervalMs ?? 250,
    discoveryIntervalMs: options.discoveryIntervalMs ?? 30_000,
    handling: {
      maximumRetryAttempts: options.maximumRetryAttempts ?? STREAM_ESM.maximumRetryAttempts,
      maximumRecordAgeSeconds: options.maximumRecordAgeSeconds ?? STREAM_ESM.maximumRecordAgeSeconds,
      bisectBatchOnFunctionError: options.bisectBatchOnFunctionError ?? STREAM_ESM.bisectBatchOnFunctionError,
      reportBatchItemFailures: options.reportBatchItemFailures ?? STREAM_ESM.reportBatchItemFailures,
    },
    backoff: options.backoff ?? DEFAULT_BACKOFF,
    filters: options.filters,
    invoke: {
      functionName: options.functionName ?? DEFAULT_FUNCTION.name,
      region,
      timeoutMs: options.timeoutMs ?? DEFAULT_FUNCTION.timeoutSeconds * 1000,
      enforceTimeout: options.enforceTimeout ?? false,
      memoryMb: options.memoryMb ?? DEFAULT_FUNCTION.memoryMb,
    },
    log: options.log ?? (() => {}),
  };
}
