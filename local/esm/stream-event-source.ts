import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { createInvoker } from './invoker.ts';
import { Stopper, settle } from './stopper.ts';
import { CheckpointKeeper } from './stream/checkpoints.ts';
import { ShardDiscovery } from './stream/discovery.ts';
import {
  resolveStreamSettings,
  type StreamEventSourceOptions,
  type StreamEventSourceStats,
} from './stream/options.ts';
import { ShardReader } from './stream/shard-reader.ts';
import { runShard } from './stream/shard-worker.ts';

export type { StreamEventSourceOptions, StreamEventSourceStats } from './stream/options.ts';

export interface StreamEventSource {
  stats(): StreamEventSourceStats;
  stop(): Promise<void>;
}

/**
 * Lambda's DynamoDB Streams event source mapping, locally (behaviour and sources:
 * stream/options.ts). Wires its parts: discovery finds the shards; a worker per shard reads
 * through the shard reader, batches, delivers through the invoker and checkpoints in the keeper.
 */
export async function startStreamEventSource(options: StreamEventSourceOptions): Promise<StreamEventSource> {
  const settings = resolveStreamSettings(options);
  const client =
    options.client ??
    new DynamoDBStreamsClient({
      endpoint: options.endpoint,
      region: settings.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  const stopper = new Stopper();
  const keeper = new CheckpointKeeper();
  const counters = {
    invocations: 0,
    failedInvocations: 0,
    retries: 0,
    recordsRead: 0,
    recordsFilteredOut: 0,
    recordsDelivered: 0,
    recordsDiscarded: 0,
  };
  const reader = new ShardReader(client, settings.streamArn, settings.region, counters, () =>
    discovery.shardClosed(),
  );
  const invoke = createInvoker(
    options.handler,
    (records: readonly DynamoDBRecord[]): DynamoDBStreamEvent => ({ Records: [...records] }),
    settings.invoke,
    counters,
  );
  const discovery = new ShardDiscovery(reader, keeper, settings, (shard) =>
    runShard(shard, { settings, reader, keeper, invoke, onFailure: options.onFailure, stopper, counters }),
  );

  await discovery.discover(true);
  const discovering = discovery.run(stopper);

  let stopping: Promise<void> | undefined;
  return {
    stats: () => ({
      ...counters,
      shards: keeper.shardCount,
      finishedShards: keeper.finishedCount,
      checkpoints: keeper.snapshot(),
    }),
    stop() {
      stopping ??= (async () => {
        stopper.stop();
        await discovering;
        // An invocation in flight finishes (in-process code cannot be stopped), bounded.
        await settle(keeper.all().map((s) => s.done));
        if (!options.client) client.destroy();
      })();
      return stopping;
    },
  };
}
