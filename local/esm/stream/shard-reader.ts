import {
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type Shard,
  type ShardIteratorType,
  type StreamStatus,
  TrimmedDataAccessException,
} from '@aws-sdk/client-dynamodb-streams';
import { toLambdaStreamRecord } from '../stream-event.ts';
import type { ShardState } from './checkpoints.ts';

/** GetRecords returns at most this many records per call. */
const MAX_RECORDS_PER_READ = 1_000;

/**
 * The shard reader: the emulator's only user of the Streams API. Describes the stream,
 * opens shard iterators, and reads pages of a shard into its buffer in Lambda's record form.
 */
export class ShardReader {
  /** The table's key attributes, from DescribeStream (Lambda lists only these in `Keys`). */
  #keyAttributes: string[] = [];

  constructor(
    private readonly client: DynamoDBStreamsClient,
    private readonly streamArn: string,
    private readonly region: string,
    private readonly counters: { recordsRead: number },
    /** A shard ended: its children (created when it closes) are found by the next discovery. */
    private readonly onShardClosed: () => void,
  ) {}

  /** Every shard of the stream (all pages), and the stream's status (`ENABLING` while it is being created). */
  async describe(): Promise<{ status: StreamStatus | undefined; shards: Shard[] }> {
    const all: Shard[] = [];
    let status: StreamStatus | undefined;
    let start: string | undefined;
    do {
      const { StreamDescription } = await this.client.send(
        new DescribeStreamCommand({
          StreamArn: this.streamArn,
          ...(start ? { ExclusiveStartShardId: start } : {}),
        }),
      );
      this.#keyAttributes = (StreamDescription?.KeySchema ?? []).flatMap((k) =>
        k.AttributeName ? [k.AttributeName] : [],
      );
      status ??= StreamDescription?.StreamStatus;
      all.push(...(StreamDescription?.Shards ?? []));
      start = StreamDescription?.LastEvaluatedShardId;
    } while (start);
    return { status, shards: all };
  }

  async iterator(shardId: string, type: ShardIteratorType, sequence?: string): Promise<string | undefined> {
    const { ShardIterator } = await this.client.send(
      new GetShardIteratorCommand({
        StreamArn: this.streamArn,
        ShardId: shardId,
        ShardIteratorType: type,
        ...(sequence ? { SequenceNumber: sequence } : {}),
      }),
    );
    return ShardIterator;
  }

  /** Reads one page of the shard into its buffer; false when it returned nothing. */
  async read(shard: ShardState, limit: number): Promise<boolean> {
    if (shard.closed) return false;
    if (!shard.iterator) {
      shard.closed = true;
      return false;
    }
    try {
      const { Records, NextShardIterator } = await this.client.send(
        new GetRecordsCommand({
          ShardIterator: shard.iterator,
          Limit: Math.min(MAX_RECORDS_PER_READ, limit),
        }),
      );
      shard.iterator = NextShardIterator;
      if (!NextShardIterator) {
        shard.closed = true;
        this.onShardClosed();
      }
      for (const record of Records ?? []) {
        shard.buffer.push(toLambdaStreamRecord(record, this.streamArn, this.region, this.#keyAttributes));
        shard.lastReadSequence = record.dynamodb?.SequenceNumber;
      }
      this.counters.recordsRead += Records?.length ?? 0;
      return (Records?.length ?? 0) > 0;
    } catch (error) {
      // An iterator lives 15 minutes: resume after the last record read. Trimmed data (older
      // than 24 hours) is gone: resume at the oldest record still there.
      if (error instanceof ExpiredIteratorException) {
        shard.iterator = shard.lastReadSequence
          ? await this.iterator(shard.id, 'AFTER_SEQUENCE_NUMBER', shard.lastReadSequence)
          : await this.iterator(shard.id, 'TRIM_HORIZON');
      } else if (error instanceof TrimmedDataAccessException) {
        shard.iterator = await this.iterator(shard.id, 'TRIM_HORIZON');
      } else {
        throw error;
      }
      return false;
    }
  }
}
