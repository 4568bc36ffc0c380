/**
 * The product's names and limits (the contract's event types, topics, limits, dead-letter headers)
 * and the functions' settings read from the environment. AWS resource settings live in aws.ts,
 * the table's layout in functions/store/layout.ts, metric names in metrics.ts, local services'
 * settings in local/settings.ts. Nothing here does I/O; `loadSettings` only reads an environment object.
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
  /**
   * Reports kept for one group id before its Create (early reports): at most as many as a group
   * can have members. Beyond it a report is dead-lettered `too-many-early-reports`.
   */
  maxEarlyReportsPerGroup: 10_000,
  /**
   * Largest early report kept, in bytes, counting its original record (value, key, headers) and
   * its parsed form together. Larger → dead-lettered `value-too-large` at once.
   */
  maxEarlyReportBytes: 160 * 1024,
  /** Largest `ttl`, seconds (default; configurable). */
  maxTtlSeconds: 7 * 24 * 3600,
  /** Default `ttl`, seconds (CONTRACT.md). */
  defaultTtlSeconds: 30,
  /** Largest outcome published: Kafka's default `max.message.bytes` (1 MiB + 12) less headroom for the batch. */
  maxOutcomeBytes: 1_000_000,
  /**
   * Highest COLLECTOR_MAX_OUTCOME_BYTES accepted: the decision stores the outcome in the same
   * transaction as the state change, and DynamoDB caps a transaction at 4 MB.
   */
  maxOutcomeBytesCeiling: 3_500_000,
  /** Largest dead letter published whole; above it the value is cut (CONTRACT.md "Dead letters"). */
  maxDeadLetterBytes: 900_000,
  /** Bytes of the original value a cut dead letter keeps. */
  deadLetterKeepBytes: 64 * 1024,
} as const;

/** Environment variable names read by the functions. */
export const ENV = {
  tableName: 'COLLECTOR_TABLE_NAME',
  kafkaBrokers: 'KAFKA_BROKERS',
  kafkaAuth: 'KAFKA_AUTH',
  kafkaSecretArn: 'KAFKA_SECRET_ARN',
  kafkaTls: 'KAFKA_TLS',
  /** Secret `{"certificate": "<PEM>"}` (AWS's SERVER_ROOT_CA_CERTIFICATE format) for brokers signed by a private CA. */
  kafkaRootCaSecretArn: 'KAFKA_ROOT_CA_SECRET_ARN',
  outcomeTopic: 'COLLECTOR_OUTCOME_TOPIC',
  deadLetterTopic: 'COLLECTOR_DLQ_TOPIC',
  retentionSeconds: 'COLLECTOR_RETENTION_SECONDS',
  earlyReportWaitSeconds: 'COLLECTOR_EARLY_REPORT_WAIT_SECONDS',
  maxTtlSeconds: 'COLLECTOR_MAX_TTL_SECONDS',
  maxOutcomeBytes: 'COLLECTOR_MAX_OUTCOME_BYTES',
  reportBatchItemFailures: 'COLLECTOR_REPORT_BATCH_ITEM_FAILURES',
  logPayloads: 'COLLECTOR_LOG_PAYLOADS',
  dynamodbEndpoint: 'DYNAMODB_ENDPOINT',
  /** CloudWatch namespace and `deployment` dimension: two stacks in one account keep their metrics apart. */
  metricsNamespace: 'COLLECTOR_METRICS_NAMESPACE',
  deployment: 'COLLECTOR_DEPLOYMENT',
  /** `true`: trace with X-Ray through Powertools' tracer (loaded only then; not in the default bundle). */
  tracing: 'COLLECTOR_TRACING',
  awsEndpoint: 'AWS_ENDPOINT_URL',
  /** Secrets Manager secret holding the outcome signing key set (docs/SECURITY.md); the construct sets it. */
  signingSecretArn: 'COLLECTOR_SIGNING_SECRET_ARN',
  /** The outcome signing key set itself, as JSON (the local runtime, tests); instead of the secret. */
  signingKeys: 'COLLECTOR_SIGNING_KEYS',
} as const;

/** Defaults of the configurable durations. */
export const DEFAULTS = {
  /** Table name when COLLECTOR_TABLE_NAME is unset (the local runtime's table). */
  tableName: 'eventbus-group-collector',
  /** Brokers when KAFKA_BROKERS is unset: the local broker (npm start). */
  kafkaBrokers: 'localhost:9092',
  /** CloudWatch namespace of the metrics when COLLECTOR_METRICS_NAMESPACE is unset. */
  metricsNamespace: 'GroupCollector',
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
  /** Present (`true`) when the dead letter was too large to publish whole: the value is cut. */
  truncated: 'collector-truncated',
  /** With `truncated`: the original value's size in bytes and its SHA-256 (hex), and how many headers it had. */
  originalSize: 'collector-original-size',
  originalSha256: 'collector-original-sha256',
  originalHeaders: 'collector-original-header-count',
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
  metricsNamespace: string;
  /** Value of the metrics' `deployment` dimension; undefined: no such dimension. */
  deployment: string | undefined;
  tracing: boolean;
  /** Secret with the outcome signing key set; undefined with `signingKeys` undefined too: outcomes go unsigned. */
  signingSecretArn: string | undefined;
  /** The outcome signing key set as JSON (takes precedence over the secret). */
  signingKeys: string | undefined;
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
  const ceiling = (name: string, value: number, max: number): number => {
    if (value > max) throw new ConfigurationError(`${name} must be at most ${max}, got ${value}`);
    return value;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = env[name];
    return raw === undefined || raw === '' ? fallback : raw === 'true' || raw === '1';
  };
  return {
    tableName: env[ENV.tableName] || DEFAULTS.tableName,
    kafkaBrokers: (env[ENV.kafkaBrokers] || DEFAULTS.kafkaBrokers)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    outcomeTopic: env[ENV.outcomeTopic] || TOPICS.outcomes,
    deadLetterTopic: env[ENV.deadLetterTopic] || TOPICS.deadLetter,
    retentionSeconds: num(ENV.retentionSeconds, DEFAULTS.retentionSeconds),
    earlyReportWaitSeconds: num(ENV.earlyReportWaitSeconds, DEFAULTS.earlyReportWaitSeconds),
    maxTtlSeconds: num(ENV.maxTtlSeconds, LIMITS.maxTtlSeconds),
    maxOutcomeBytes: ceiling(
      ENV.maxOutcomeBytes,
      num(ENV.maxOutcomeBytes, LIMITS.maxOutcomeBytes),
      LIMITS.maxOutcomeBytesCeiling,
    ),
    reportBatchItemFailures: bool(ENV.reportBatchItemFailures, false),
    logPayloads: bool(ENV.logPayloads, false),
    dynamodbEndpoint: env[ENV.dynamodbEndpoint] || env[ENV.awsEndpoint] || undefined,
    metricsNamespace: env[ENV.metricsNamespace] || DEFAULTS.metricsNamespace,
    deployment: env[ENV.deployment] || undefined,
    tracing: bool(ENV.tracing, false),
    signingSecretArn: env[ENV.signingSecretArn] || undefined,
    signingKeys: env[ENV.signingKeys] || undefined,
  };
}

export class ConfigurationError extends Error {
  override name = 'ConfigurationError';
}
