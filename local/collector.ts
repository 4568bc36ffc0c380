/**
 * The whole collector running locally, as AWS runs it: the collector function
 * behind the Kafka event source mapping emulator, the timeouts function behind
 * the DynamoDB stream emulator (filtered to TTL deletions), and the sweeper
 * loop. Used by `npm start`, the end-to-end tests and the benchmarks.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { FUNCTIONS, KAFKA_ESM, STREAM_ESM, SWEEPER } from '#shared/aws.ts';
import { ENV, loadSettings, type Settings, TOPICS } from '#shared/config.ts';
import { createRuntime, kafkaPublisher, type Runtime } from '#shared/runtime.ts';
import { TTL_STREAM_FILTERS } from '#store/layout.ts';
import { processKafkaEvent } from '../functions/collector/handler.ts';
import { sweepLoop } from '../functions/sweeper/handler.ts';
import { processStreamEvent } from '../functions/timeouts/handler.ts';
import { startKafkaEventSource } from './esm/kafka-event-source.ts';
import { startStreamEventSource } from './esm/stream-event-source.ts';
import { localDynamoClient } from './services/dynamodb.ts';

export interface LocalCollectorOptions {
  brokers: string[];
  dynamoEndpoint: string;
  tableName: string;
  streamArn: string;
  /** Settings on top of the environment's (topics, retention, waits). */
  settings?: Partial<Settings>;
  /** Topics the collector consumes; default the input topic. */
  inputTopics?: string[];
  /** Kafka consumer group of the local event source mapping. */
  groupId?: string;
  form?: 'msk' | 'self-managed';
  /** Overrides of the Kafka mapping's settings (batch size, batching window…). */
  kafka?: {
    batchSize?: number;
    maximumBatchingWindowSeconds?: number;
    startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  };
  /** Enforce each function's configured timeout on every invocation. */
  enforceTimeouts?: boolean;
  sweeperIntervalMs?: number;
  /** Run the punctual-deadline sweeper (default true); without it only TTL times groups out. */
  sweeper?: boolean;
  logger?: (fn: string) => Logger;
  log?: (line: string) => void;
}

export interface LocalCollector {
  settings: Settings;
  runtimes: { collector: Runtime; timeouts: Runtime; sweeper: Runtime };
  stop(): Promise<void>;
}

export async function startLocalCollector(options: LocalCollectorOptions): Promise<LocalCollector> {
  const settings: Settings = {
    ...loadSettings({ ...process.env, [ENV.kafkaBrokers]: options.brokers.join(',') }),
    tableName: options.tableName,
    dynamodbEndpoint: options.dynamoEndpoint,
    reportBatchItemFailures: KAFKA_ESM.reportBatchItemFailures,
    ...options.settings,
  };
  const make = (fn: string): Runtime => {
    const runtime = createRuntime({
      settings,
      dynamo: localDynamoClient(options.dynamoEndpoint),
      publisher: kafkaPublisher({ clientId: `local-${fn}`, brokers: options.brokers }),
      functionName: fn,
      logger: options.logger?.(fn),
    });
    if (!options.logger) runtime.logger.setLogLevel('WARN');
    return runtime;
  };
  const runtimes = {
    collector: make(FUNCTIONS.collector.name),
    timeouts: make(FUNCTIONS.timeouts.name),
    sweeper: make(FUNCTIONS.sweeper.name),
  };
  const log = options.log ?? (() => {});
  const kafka = await startKafkaEventSource({
    brokers: options.brokers,
    topics: options.inputTopics ?? [TOPICS.input],
    groupId: options.groupId,
    form: options.form,
    ...options.kafka,
    reportBatchItemFailures: KAFKA_ESM.reportBatchItemFailures,
    onFailureTopic: TOPICS.esmFailure,
    functionName: FUNCTIONS.collector.name,
    timeoutMs: FUNCTIONS.collector.timeoutSeconds * 1000,
    enforceTimeout: options.enforceTimeouts,
    handler: async (event) => {
      const result = await processKafkaEvent(event, runtimes.collector);
      runtimes.collector.metrics.clearMetrics();
      return result;
    },
    log,
  });
  const stream = await startStreamEventSource({
    streamArn: options.streamArn,
    endpoint: options.dynamoEndpoint,
    filters: TTL_STREAM_FILTERS,
    reportBatchItemFailures: STREAM_ESM.reportBatchItemFailures,
    functionName: FUNCTIONS.timeouts.name,
    timeoutMs: FUNCTIONS.timeouts.timeoutSeconds * 1000,
    enforceTimeout: options.enforceTimeouts,
    handler: (event) => processStreamEvent(event as DynamoDBStreamEvent, runtimes.timeouts),
    log,
  });
  let stopping = false;
  const sweeper =
    options.sweeper === false
      ? Promise.resolve()
      : sweepLoop(runtimes.sweeper, () => stopping, {
          intervalMs: options.sweeperIntervalMs ?? SWEEPER.intervalMs,
        }).catch((error: unknown) => runtimes.sweeper.logger.error('sweeper stopped', { error }));
  return {
    settings,
    runtimes,
    async stop() {
      stopping = true;
      await Promise.allSettled([kafka.stop(), stream.stop(), sweeper]);
      await Promise.allSettled(Object.values(runtimes).map((r) => r.publisher.disconnect()));
    },
  };
}
