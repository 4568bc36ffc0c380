import { randomUUID } from 'node:crypto';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type Shard,
  type ShardIteratorType,
  TrimmedDataAccessException,
} from '@aws-sdk/client-dynamodb-streams';
import type { Context, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { FUNCTIONS, LOCAL, STREAM_ESM } from '#shared/config.ts';
import { functionArn, type InvocationResult, invokeHandler } from './context.ts';
import { EventSourceConfigurationError, EventSourceStoppedError } from './errors.ts';
import { type FilterPattern, matchesAnyFilter, validatePattern } from './filter.ts';
import { type Backoff, backoffDelay, DEFAULT_BACKOFF, type Discarded, deliverBatch } from './retry.ts';
import { Stopper } from './stopper.ts';
import { lowestStreamFailure, streamFailureRecord, toLambdaStreamRecord } from './stream-event.ts';

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
  handler: (event: DynamoDBStreamEvent, context: Context) => Promise<unknown> | unknown;
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

export interface StreamEventSource {
  stats(): StreamEventSourceStats;
  stop(): Promise<void>;
}

interface ShardState {
  readonly id: string;
  readonly parentId: string | undefined;
  iterator: string | undefined;
  lastReadSequence: string | undefined;
  closed: boolean;
  finished: boolean;
  started: boolean;
  readonly buffer: DynamoDBRecord[];
  done: Promise<void>;
}

const DEFAULT_FUNCTION = FUNCTIONS.timeouts;

export async function startStreamEventSource(options: StreamEventSourceOptions): Promise<StreamEventSource> {
  const region = options.region ?? process.env.AWS_REGION ?? LOCAL.region;
  const ownsClient = !options.client;
  if (!options.client && !options.endpoint) {
    throw new EventSourceConfigurationError('give a Streams client or an endpoint');
  }
  const client =
    options.client ??
    new DynamoDBStreamsClient({
      endpoint: options.endpoint,
      region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  const batchSize = options.batchSize ?? STREAM_ESM.batchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new EventSourceConfigurationError(`batchSize must be 1..10000, got ${batchSize}`);
  }
  const windowMs = (options.maximumBatchingWindowSeconds ?? STREAM_ESM.maximumBatchingWindowSeconds) * 1000;
  const handling = {
    maximumRetryAttempts: options.maximumRetryAttempts ?? STREAM_ESM.maximumRetryAttempts,
    maximumRecordAgeSeconds: options.maximumRecordAgeSeconds ?? STREAM_ESM.maximumRecordAgeSeconds,
    bisectBatchOnFunctionError: options.bisectBatchOnFunctionError ?? STREAM_ESM.bisectBatchOnFunctionError,
    reportBatchItemFailures: options.reportBatchItemFailures ?? STREAM_ESM.reportBatchItemFailures,
  };
  for (const pattern of options.filters ?? []) validatePattern(pattern);
  const functionName = options.functionName ?? DEFAULT_FUNCTION.name;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const pollMs = options.pollIntervalMs ?? 250;
  const discoveryIntervalMs = options.discoveryIntervalMs ?? 30_000;
  /** Set when a shard closes: its children must be discovered. */
  let rediscover = false;
  const log = options.log ?? (() => {});
  const startingPosition = options.startingPosition ?? STREAM_ESM.startingPosition;
  const streamArn = options.streamArn;
  const stopper = new Stopper();
  const shards = new Map<string, ShardState>();
  /** The table's key attributes, from DescribeStream. */
  let keyAttributes: string[] = [];
  const stats: StreamEventSourceStats = {
    invocations: 0,
    failedInvocations: 0,
    retries: 0,
    recordsRead: 0,
    recordsFilteredOut: 0,
    recordsDelivered: 0,
    recordsDiscarded: 0,
    shards: 0,
    finishedShards: 0,
    checkpoints: {},
  };

  const iterator = async (shardId: string, type: ShardIteratorType, sequence?: string) => {
    const { ShardIterator } = await client.send(
      new GetShardIteratorCommand({
        StreamArn: streamArn,
        ShardId: shardId,
        ShardIteratorType: type,
        ...(sequence ? { SequenceNumber: sequence } : {}),
      }),
    );
    return ShardIterator;
  };

  const invoke = async (records: readonly DynamoDBRecord[]): Promise<InvocationResult> => {
    stats.invocations++;
    stats.recordsDelivered += records.length;
    const result = await invokeHandler(
      options.handler,
      { Records: [...records] },
      {
        functionName,
        region,
        timeoutMs: options.timeoutMs ?? DEFAULT_FUNCTION.timeoutSeconds * 1000,
        enforceTimeout: options.enforceTimeout ?? false,
        memoryMb: options.memoryMb ?? DEFAULT_FUNCTION.memoryMb,
      },
    );
    if (!result.ok) stats.failedInvocations++;
    return result;
  };

  const discard = async (shard: ShardState, d: Discarded<DynamoDBRecord>) => {
    stats.recordsDiscarded += d.records.length;
    const failure = streamFailureRecord(d.records, {
      requestId: d.lastResult?.requestId ?? randomUUID(),
      functionArn: functionArn(functionName, region),
      condition: d.condition,
      approximateInvokeCount: d.invokeCount,
      functionError: d.lastResult && !d.lastResult.ok ? 'Unhandled' : undefined,
      shardId: shard.id,
      streamArn,
      now: Date.now(),
    });
    log(`${d.condition}: discarded ${d.records.length} record(s) of ${shard.id}`);
    await options.onFailure?.(failure, d.records);
  };

  /** Reads one page of the shard into its buffer; false when it returned nothing. */
  const read = async (shard: ShardState, limit: number): Promise<boolean> => {
    if (shard.closed) return false;
    if (!shard.iterator) {
      shard.closed = true;
      return false;
    }
    try {
      const { Records, NextShardIterator } = await client.send(
        new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: Math.min(1_000, limit) }),
      );
      shard.iterator = NextShardIterator;
      if (!NextShardIterator) {
        shard.closed = true;
        // Its children (already created when a shard closes) are found by the next discovery.
        rediscover = true;
      }
      for (const record of Records ?? []) {
        shard.buffer.push(toLambdaStreamRecord(record, streamArn, region, keyAttributes));
        shard.lastReadSequence = record.dynamodb?.SequenceNumber;
      }
      stats.recordsRead += Records?.length ?? 0;
      return (Records?.length ?? 0) > 0;
    } catch (error) {
      if (error instanceof ExpiredIteratorException) {
        shard.iterator = shard.lastReadSequence
          ? await iterator(shard.id, 'AFTER_SEQUENCE_NUMBER', shard.lastReadSequence)
          : await iterator(shard.id, 'TRIM_HORIZON');
      } else if (error instanceof TrimmedDataAccessException) {
        shard.iterator = await iterator(shard.id, 'TRIM_HORIZON');
      } else {
        throw error;
      }
      return false;
    }
  };

  const runShard = async (shard: ShardState) => {
    let failures = 0;
    while (!stopper.stopped) {
      try {
        // Lineage: a child shard is read only after its parent is done.
        const parent = shard.parentId ? shards.get(shard.parentId) : undefined;
        if (parent && !parent.finished) {
          await stopper.wait(pollMs);
          continue;
        }
        if (shard.buffer.length === 0 && shard.closed) break;
        if (shard.buffer.length < batchSize) {
          const got = await read(shard, batchSize - shard.buffer.length);
          // Batching window: keep reading until a full batch or the window is over.
          const until = Date.now() + windowMs;
          while (windowMs > 0 && shard.buffer.length < batchSize && !shard.closed && Date.now() < until) {
            if (await stopper.wait(Math.min(pollMs, until - Date.now()))) break;
            await read(shard, batchSize - shard.buffer.length);
          }
          if (!got && shard.buffer.length === 0) {
            if (!shard.closed) await stopper.wait(pollMs);
            continue;
          }
        }
        const batch = shard.buffer.splice(0, batchSize);
        const last = batch.at(-1);
        if (!last) continue;
        const matched = batch.filter((r) => matchesAnyFilter(r, options.filters));
        stats.recordsFilteredOut += batch.length - matched.length;
        const checkpoint = async (record: DynamoDBRecord) => {
          const sequence = record.dynamodb?.SequenceNumber;
          if (sequence) stats.checkpoints[shard.id] = sequence;
        };
        if (matched.length > 0) {
          await deliverBatch(matched, handling, backoff, {
            invoke,
            lowestFailure: lowestStreamFailure,
            recordTimeMs: (r) => (r.dynamodb?.ApproximateCreationDateTime ?? 0) * 1000,
            checkpoint,
            discard: (d) => discard(shard, d),
            sleep: (ms) => stopper.sleep(ms),
            now: Date.now,
            isStopped: () => stopper.stopped,
            onRetry: (records, retry, result) => {
              stats.retries++;
              const why = result.ok ? 'partial batch failure' : String(result.error);
              log(`retry ${retry} of ${shard.id}@${records[0]?.dynamodb?.SequenceNumber}: ${why}`);
            },
          });
        }
        await checkpoint(last);
        failures = 0;
      } catch (error) {
        if (error instanceof EventSourceStoppedError) break;
        failures++;
        log(`shard ${shard.id}: ${String(error)}`);
        await stopper.wait(backoffDelay(failures, backoff));
      }
    }
    if (!stopper.stopped) {
      shard.finished = true;
      stats.finishedShards++;
    }
  };

  const describe = async (): Promise<Shard[]> => {
    const all: Shard[] = [];
    let start: string | undefined;
    do {
      const { StreamDescription } = await client.send(
        new DescribeStreamCommand({
          StreamArn: streamArn,
          ...(start ? { ExclusiveStartShardId: start } : {}),
        }),
      );
      keyAttributes = (StreamDescription?.KeySchema ?? []).flatMap((k) =>
        k.AttributeName ? [k.AttributeName] : [],
      );
      all.push(...(StreamDescription?.Shards ?? []));
      start = StreamDescription?.LastEvaluatedShardId;
    } while (start);
    return all;
  };

  const discover = async (initial: boolean) => {
    for (const shard of await describe()) {
      const id = shard.ShardId;
      if (!id || shards.has(id)) continue;
      const closedAtStart = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
      const state: ShardState = {
        id,
        parentId: shard.ParentShardId,
        iterator: undefined,
        lastReadSequence: undefined,
        closed: false,
        finished: false,
        started: false,
        buffer: [],
        done: Promise.resolve(),
      };
      shards.set(id, state);
      stats.shards++;
      if (initial && startingPosition === 'LATEST' && closedAtStart) {
        // LATEST: nothing old is read; a shard already closed has nothing new.
        state.closed = true;
        state.finished = true;
        stats.finishedShards++;
        continue;
      }
      // Shards that appear later are read from their start, as Lambda does.
      const type: ShardIteratorType = initial && startingPosition === 'LATEST' ? 'LATEST' : 'TRIM_HORIZON';
      state.iterator = await iterator(id, type);
      state.started = true;
      state.done = runShard(state).catch((error: unknown) => log(`shard ${id} stopped: ${String(error)}`));
    }
  };

  await discover(true);
  const discovery = (async () => {
    let failures = 0;
    let last = Date.now();
    while (!(await stopper.wait(1_000))) {
      // DescribeStream is costly on DynamoDB Local (it scans the stream's records on its one SQLite
      // thread, which every other call waits for), so it runs only when a shard closed, while no
      // shard is open, or every discoveryIntervalMs as a safety net; not every second.
      const open = [...shards.values()].some((s) => !s.closed);
      if (!rediscover && open && Date.now() - last < discoveryIntervalMs) continue;
      try {
        rediscover = false;
        last = Date.now();
        await discover(false);
        failures = 0;
      } catch (error) {
        failures++;
        rediscover = true;
        log(`describe stream: ${String(error)}`);
        await stopper.wait(backoffDelay(failures, backoff));
      }
    }
  })();

  let stopping: Promise<void> | undefined;
  return {
    stats: () => ({ ...stats, checkpoints: { ...stats.checkpoints } }),
    stop() {
      stopping ??= (async () => {
        stopper.stop();
        await discovery;
        await Promise.race([
          Promise.all([...shards.values()].map((s) => s.done)),
          new Promise((r) => setTimeout(r, 15_000).unref()),
        ]);
        if (ownsClient) client.destroy();
      })();
      return stopping;
    },
  };
}
