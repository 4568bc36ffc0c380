import { FUNCTIONS, KAFKA_ESM } from '#shared/aws.ts';
import type { InvokeOptions, LambdaHandler } from '../context.ts';
import { EventSourceConfigurationError } from '../errors.ts';
import { type FilterPattern, validatePattern } from '../filter.ts';
import {
  type KafkaEventForm,
  type KafkaSourceIdentity,
  type LambdaKafkaEvent,
  LOCAL_CLUSTER_ARN,
} from '../kafka-event.ts';
import { type Backoff, DEFAULT_BACKOFF, type ErrorHandling } from '../retry.ts';

/**
 * A local stand-in for Lambda's Kafka event source mapping (Amazon MSK or
 * self-managed Apache Kafka), on a real broker through a kafkajs consumer group.
 *
 * Behaviour and its sources (AWS Lambda developer guide):
 * - Event shape: see kafka-event.ts.
 * - One batch in flight per partition; partitions progress independently; a failing
 *   batch is retried and holds its partition ("Lambda retries the whole batch ... until
 *   processing succeeds or the messages expire"): with-kafka-configure.html.
 * - Offsets are committed only after a successful invocation (committed offset = next
 *   record to read): with-kafka-configure.html, invocation-eventsourcemapping.html.
 * - Batching: up to BatchSize records or MaximumBatchingWindowInSeconds: msk-esm-parameters.html.
 * - MaximumRetryAttempts, MaximumRecordAgeInSeconds, BisectBatchOnFunctionError,
 *   ReportBatchItemFailures: kafka-retry-configurations.html.
 * - On-failure destination on a Kafka topic (one message per failed record, key = the
 *   record's key; infinite retries capped at 10 when a destination is set):
 *   kafka-on-failure-destination.html.
 * - Filters apply to `value` only; filtered-out offsets are committed too:
 *   kafka-filtering.html, invocation-eventfiltering.html.
 * - StartingPosition applies only when the consumer group has no committed offsets:
 *   kafka-consumer-group-id.html.
 */
export interface KafkaEventSourceOptions {
  brokers: string[];
  topics: string[];
  handler: LambdaHandler<LambdaKafkaEvent>;
  /** Default KAFKA_ESM.consumerGroupId. */
  groupId?: string;
  /** Event form: `msk` (aws:kafka, with eventSourceArn) or `self-managed`. Default `msk`. */
  form?: KafkaEventForm;
  eventSourceArn?: string;
  /** Written into the event; default the brokers, comma-separated. */
  bootstrapServers?: string;
  batchSize?: number;
  maximumBatchingWindowSeconds?: number;
  startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  maximumRetryAttempts?: number;
  maximumRecordAgeSeconds?: number;
  bisectBatchOnFunctionError?: boolean;
  reportBatchItemFailures?: boolean;
  /** On-failure destination topic (`kafka://<topic>` on AWS). */
  onFailureTopic?: string;
  /** Filter criteria on `value` (JSON values are matched as JSON). */
  filters?: readonly FilterPattern[];
  functionName?: string;
  /** The function's timeout (context countdown; enforced with `enforceTimeout`). */
  timeoutMs?: number;
  enforceTimeout?: boolean;
  memoryMb?: number;
  backoff?: Backoff;
  /** Diagnostics (retries, discards, commit errors). */
  log?: (line: string) => void;
}

export interface KafkaEventSourceStats {
  invocations: number;
  failedInvocations: number;
  retries: number;
  recordsDelivered: number;
  recordsFilteredOut: number;
  /** Records given up on (retries exhausted or too old), per condition. */
  recordsDiscarded: number;
  /** Messages written to the on-failure topic. */
  destinationMessages: number;
  /** Last committed offset (next to read) per `"<topic>-<partition>"`. */
  committed: Record<string, number>;
}

/** The options with every default applied and checked: what the parts of the emulator read. */
export interface KafkaSettings {
  brokers: string[];
  topics: string[];
  groupId: string;
  /** Read from the earliest offset when the group has no committed offset (TRIM_HORIZON). */
  fromBeginning: boolean;
  batchSize: number;
  windowMs: number;
  /** A partition's buffer pauses its fetching at this many records (resumes below half). */
  highWater: number;
  handling: ErrorHandling;
  backoff: Backoff;
  filters: readonly FilterPattern[];
  destination: string | undefined;
  source: KafkaSourceIdentity;
  invoke: InvokeOptions;
  log: (line: string) => void;
}

const DEFAULT_FUNCTION = FUNCTIONS.collector;

/** Applies the defaults; throws what CreateEventSourceMapping would refuse, before anything connects. */
export function resolveKafkaSettings(options: KafkaEventSourceOptions): KafkaSettings {
  const batchSize = options.batchSize ?? KAFKA_ESM.batchSize;
  const destination = options.onFailureTopic;
  const requestedRetries = options.maximumRetryAttempts ?? KAFKA_ESM.maximumRetryAttempts;
  const handling: ErrorHandling = {
    // "When you configure both infinite retries and an on-failure destination, Lambda
    // automatically applies a maximum of 10 retry attempts." (kafka-on-failure-destination.html)
    maximumRetryAttempts: destination && requestedRetries < 0 ? 10 : requestedRetries,
    maximumRecordAgeSeconds: options.maximumRecordAgeSeconds ?? KAFKA_ESM.maximumRecordAgeSeconds,
    bisectBatchOnFunctionError: options.bisectBatchOnFunctionError ?? KAFKA_ESM.bisectBatchOnFunctionError,
    reportBatchItemFailures: options.reportBatchItemFailures ?? KAFKA_ESM.reportBatchItemFailures,
  };
  if (options.topics.length === 0) throw new EventSourceConfigurationError('at least one topic is required');
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new EventSourceConfigurationError(`batchSize must be 1..10000, got ${batchSize}`);
  }
  const retries = handling.maximumRetryAttempts;
  if (!Number.isInteger(retries) || retries < -1 || retries > 10_000) {
    throw new EventSourceConfigurationError(`maximumRetryAttempts must be -1..10000, got ${retries}`);
  }
  for (const pattern of options.filters ?? []) validatePattern(pattern);
  if (destination && options.topics.includes(destination)) {
    throw new EventSourceConfigurationError('the on-failure topic must differ from the source topics');
  }
  return {
    brokers: options.brokers,
    topics: options.topics,
    groupId: options.groupId ?? KAFKA_ESM.consumerGroupId,
    fromBeginning: (options.startingPosition ?? KAFKA_ESM.startingPosition) === 'TRIM_HORIZON',
    batchSize,
    windowMs: (options.maximumBatchingWindowSeconds ?? KAFKA_ESM.maximumBatchingWindowSeconds) * 1000,
    highWater: Math.max(2 * batchSize, 200),
    handling,
    backoff: options.backoff ?? DEFAULT_BACKOFF,
    filters: options.filters ?? [],
    destination,
    source: {
      form: options.form ?? 'msk',
      eventSourceArn: options.eventSourceArn ?? LOCAL_CLUSTER_ARN,
      bootstrapServers: options.bootstrapServers ?? options.brokers.join(','),
    },
    invoke: {
      functionName: options.functionName ?? DEFAULT_FUNCTION.name,
      timeoutMs: options.timeoutMs ?? DEFAULT_FUNCTION.timeoutSeconds * 1000,
      enforceTimeout: options.enforceTimeout ?? false,
      memoryMb: options.memoryMb ?? DEFAULT_FUNCTION.memoryMb,
    },
    log: options.log ?? (() => {}),
  };
}
