/**
 * The one source of truth for every name and setting shared by the functions,
 * the CDK stack, the local runtime, the tests and the benchmarks.
 * Nothing here does I/O; `loadSettings` only reads an environment object.
 */

/** Event types on the bus (CONTRACT.md). */
export const EVENT_TYPES = {
  create: 'EventGroupCollectorCreate',
  done: 'EventGroupCollectorEntityDone',
  success: 'EventGroupCollectorSuccess',
  failure: 'EventGroupCollectorFailure',
} as const;
export type EventType = (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES];
/** Outcome types share the input topic by default; the collector ignores them silently. */
export const OUTCOME_TYPES: readonly string[] = [EVENT_TYPES.success, EVENT_TYPES.failure];

/** Default topic names (CONTRACT.md "Topics"). */
export const TOPICS = {
  input: 'eventbus-collector',
  /** Outcomes go to the input topic by default: the bus's long-standing convention. */
  outcomes: 'eventbus-collector',
  deadLetter: 'eventbus-collector.dlq',
  /** Where the Kafka event source mapping sends a batch it gave up on (on-failure destination). */
  esmFailure: 'eventbus-collector.esm-failures',
} as const;

/** Partitions created locally and recommended in the README. */
export const LOCAL_TOPIC_PARTITIONS = 6;

/** DynamoDB table schema. See DESIGN.md for the item layout. */
export const TABLE = {
  defaultName: 'eventbus-group-collector',
  partitionKey: 'pk',
  sortKey: 'sk',
  /** TTL attribute: Unix epoch seconds (DynamoDB ignores any other format). */
  ttlAttribute: 'expiresAt',
  /** Sparse index of open deadlines, sharded so that many groups expiring at once share no hot key. */
  deadlineIndex: {
    name: 'deadlines',
    partitionKey: 'dlShard',
    sortKey: 'dlAt',
    shards: 16,
  },
  /** The stream carries old images: the TTL handler needs the removed item. */
  streamViewType: 'NEW_AND_OLD_IMAGES',
} as const;

/** Item kinds, stored in attribute `kind` so that stream filters can select them. */
export const ITEM_KINDS = {
  definition: 'def',
  state: 'state',
  outcome: 'out',
  counter: 'count',
  member: 'member',
} as const;

/** Group states stored on the STATE item. */
export const GROUP_STATUS = {
  open: 'open',
  succeeded: 'succeeded',
  failed: 'failed',
  timedOut: 'timedout',
} as const;
export type GroupStatus = (typeof GROUP_STATUS)[keyof typeof GROUP_STATUS];

/**
 * Filter criteria for the DynamoDB stream event source mapping of the timeouts
 * function: TTL deletions (the DynamoDB service as `userIdentity`, lowercase as
 * Lambda delivers it) of an open group's STATE item or of an early report
 * whose group never arrived. Filters are OR-ed; keys inside one are AND-ed.
 * Used verbatim by the CDK stack and by the local stream emulator.
 */
export const TTL_STREAM_FILTERS: readonly Record<string, unknown>[] = [
  {
    eventName: ['REMOVE'],
    userIdentity: { type: ['Service'], principalId: ['dynamodb.amazonaws.com'] },
    dynamodb: { OldImage: { kind: { S: [ITEM_KINDS.state] }, status: { S: [GROUP_STATUS.open] } } },
  },
  {
    eventName: ['REMOVE'],
    userIdentity: { type: ['Service'], principalId: ['dynamodb.amazonaws.com'] },
    dynamodb: { OldImage: { kind: { S: [ITEM_KINDS.member] }, early: { BOOL: [true] } } },
  },
];

/** Limits a producer controls; each is enforced with a dead-letter reason. README "Limits". */
export const LIMITS = {
  /** Longest group or member id, in UTF-8 bytes. */
  maxIdBytes: 256,
  /** Most members in one group. */
  maxMembers: 10_000,
  /** Largest `result` of one member (canonical JSON, UTF-8 bytes). */
  maxResultBytes: 64 * 1024,
  /** Largest `error` string of one member, in UTF-8 bytes. */
  maxErrorBytes: 8 * 1024,
  /** Largest `payload` of a group (canonical JSON, UTF-8 bytes). */
  maxPayloadBytes: 64 * 1024,
  /** Largest input record value accepted, in bytes. The definition item must fit DynamoDB's 400 KB. */
  maxInputBytes: 350 * 1024,
  /** Largest `ttl`, seconds (default; configurable). */
  maxTtlSeconds: 7 * 24 * 3600,
  /** Default `ttl`, seconds (CONTRACT.md). */
  defaultTtlSeconds: 30,
  /** Largest outcome published: Kafka's default `max.message.bytes` (1 MiB + 12) less headroom for the batch. */
  maxOutcomeBytes: 1_000_000,
  /** Outcome bytes are stored in chunks of this size (DynamoDB items are at most 400 KB). */
  outcomeChunkBytes: 300 * 1024,
} as const;

/** Settings of the Kafka event source mapping, shared by the CDK stack and the local emulator. */
export const KAFKA_ESM = {
  batchSize: 100,
  /** Seconds; AWS default is 500 ms and cannot be restored once changed. */
  maximumBatchingWindowSeconds: 1,
  startingPosition: 'TRIM_HORIZON',
  consumerGroupId: 'eventbus-group-collector',
  /** Error controls (need provisioned mode on AWS; see AWS-FACTS.md A). */
  maximumRetryAttempts: 10,
  maximumRecordAgeSeconds: 3_600,
  bisectBatchOnFunctionError: false,
  reportBatchItemFailures: true,
} as const;

/** Settings of the DynamoDB stream event source mapping (timeouts function). */
export const STREAM_ESM = {
  batchSize: 100,
  maximumBatchingWindowSeconds: 0,
  startingPosition: 'TRIM_HORIZON',
  maximumRetryAttempts: 20,
  maximumRecordAgeSeconds: 86_400,
  bisectBatchOnFunctionError: true,
  reportBatchItemFailures: true,
  parallelizationFactor: 2,
} as const;

/** Function settings shared by the stack and the local runtime (timeouts enforced by the local option). */
export const FUNCTIONS = {
  collector: { name: 'collector', memoryMb: 512, timeoutSeconds: 60 },
  timeouts: { name: 'timeouts', memoryMb: 256, timeoutSeconds: 60 },
  sweeper: { name: 'sweeper', memoryMb: 256, timeoutSeconds: 70 },
} as const;

/** The punctual-deadline sweeper: scheduled once a minute on AWS, loops inside the invocation. */
export const SWEEPER = {
  scheduleMinutes: 1,
  /** How long one scheduled invocation keeps sweeping (AWS), seconds. */
  runForSeconds: 58,
  /** Time between the starts of two sweeps, ms. Locally the runtime sweeps at this interval too. */
  intervalMs: 1_000,
  /** Groups decided concurrently by one sweep. */
  concurrency: 16,
} as const;

/** Environment variable names read by the functions. */
export const ENV = {
  tableName: 'COLLECTOR_TABLE_NAME',
  kafkaBrokers: 'KAFKA_BROKERS',
  kafkaAuth: 'KAFKA_AUTH',
  kafkaSecretArn: 'KAFKA_SECRET_ARN',
  kafkaTls: 'KAFKA_TLS',
  outcomeTopic: 'COLLECTOR_OUTCOME_TOPIC',
  deadLetterTopic: 'COLLECTOR_DLQ_TOPIC',
  retentionSeconds: 'COLLECTOR_RETENTION_SECONDS',
  earlyReportWaitSeconds: 'COLLECTOR_EARLY_REPORT_WAIT_SECONDS',
  maxTtlSeconds: 'COLLECTOR_MAX_TTL_SECONDS',
  maxOutcomeBytes: 'COLLECTOR_MAX_OUTCOME_BYTES',
  reportBatchItemFailures: 'COLLECTOR_REPORT_BATCH_ITEM_FAILURES',
  logPayloads: 'COLLECTOR_LOG_PAYLOADS',
  dynamodbEndpoint: 'DYNAMODB_ENDPOINT',
  awsEndpoint: 'AWS_ENDPOINT_URL',
} as const;

/** Defaults of the configurable durations. */
export const DEFAULTS = {
  /** How long a decided group is remembered so that late reports are recognised (guarantee 7). */
  retentionSeconds: 7 * 24 * 3600,
  /** How long a report whose group is unknown waits before it is dead-lettered (`group never created`). */
  earlyReportWaitSeconds: 600,
} as const;

/** Headers on dead letters. */
export const DLQ_HEADERS = {
  reason: 'collector-dlq-reason',
  message: 'collector-dlq-message',
  topic: 'collector-source-topic',
  partition: 'collector-source-partition',
  offset: 'collector-source-offset',
} as const;

/** Local development defaults (README walkthrough uses these). */
export const LOCAL = {
  kafkaPort: 9092,
  dynamodbPort: 8000,
  region: 'us-east-1',
  kafkaVersion: '4.4.0',
} as const;

export interface Settings {
  tableName: string;
  kafkaBrokers: string[];
  outcomeTopic: string;
  deadLetterTopic: string;
  retentionSeconds: number;
  earlyReportWaitSeconds: number;
  maxTtlSeconds: number;
  maxOutcomeBytes: number;
  reportBatchItemFailures: boolean;
  logPayloads: boolean;
  dynamodbEndpoint: string | undefined;
}

/** Reads the functions' settings from an environment (process.env by default). */
export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  const num = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) {
      throw new ConfigurationError(`${name} must be a positive number, got "${raw}"`);
    }
    return value;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = env[name];
    return raw === undefined || raw === '' ? fallback : raw === 'true' || raw === '1';
  };
  return {
    tableName: env[ENV.tableName] || TABLE.defaultName,
    kafkaBrokers: (env[ENV.kafkaBrokers] || `localhost:${LOCAL.kafkaPort}`)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    outcomeTopic: env[ENV.outcomeTopic] || TOPICS.outcomes,
    deadLetterTopic: env[ENV.deadLetterTopic] || TOPICS.deadLetter,
    retentionSeconds: num(ENV.retentionSeconds, DEFAULTS.retentionSeconds),
    earlyReportWaitSeconds: num(ENV.earlyReportWaitSeconds, DEFAULTS.earlyReportWaitSeconds),
    maxTtlSeconds: num(ENV.maxTtlSeconds, LIMITS.maxTtlSeconds),
    maxOutcomeBytes: num(ENV.maxOutcomeBytes, LIMITS.maxOutcomeBytes),
    reportBatchItemFailures: bool(ENV.reportBatchItemFailures, false),
    logPayloads: bool(ENV.logPayloads, false),
    dynamodbEndpoint: env[ENV.dynamodbEndpoint] || env[ENV.awsEndpoint] || undefined,
  };
}

export class ConfigurationError extends Error {
  override name = 'ConfigurationError';
}

/** Item layout constants (DESIGN.md): member items spread over buckets, counted in shards. */
export const LAYOUT = {
  /** Member reports of one group are spread over this many partition keys (no hot key for a large group). */
  memberBuckets: 8,
  /** Members counted by one counter shard item (its number set stays well under 1 KB). */
  counterShardSize: 64,
  /** A decided group's definition and members outlive its STATE by this margin, seconds. */
  definitionMarginSeconds: 86_400,
} as const;

/** CloudWatch metrics (embedded metric format). */
export const METRICS = {
  namespace: 'GroupCollector',
  service: 'group-collector',
} as const;

/** Metric names emitted in EMF under METRICS.namespace (powertools adds the dimension `service` = METRICS.service). */
export const METRIC_NAMES = {
  deadLetters: 'DeadLetters',
  deadLettersByReason: 'DeadLettersByReason',
  lateReports: 'LateReports',
  outcomesRepublished: 'OutcomesRepublished',
  serviceDimension: 'service',
} as const;

/** Further Kafka connection variables read by functions/shared/kafka-auth.ts. */
export const KAFKA_ENV = {
  /** Secret `{"certificate": "<PEM>"}` (AWS's SERVER_ROOT_CA_CERTIFICATE format) for brokers signed by a private CA. */
  rootCaSecretArn: 'KAFKA_ROOT_CA_SECRET_ARN',
} as const;
