/**
 * Settings of the AWS resources around the functions, shared by the CDK stack and the local
 * emulators that stand in for them (event source mappings, function sizes, the sweeper's schedule).
 */

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
  /** Due groups handled together: definitions and reports read in batches, outcomes produced at once. */
  decisionChunk: 100,
  /**
   * One sweeper at a time holds a lease item, renewed on every sweep; an overlapping invocation
   * (a slow one still running when the next minute starts one) skips its sweeps until the lease lapses.
   */
  leaseMs: 10_000,
  /** A due entry whose handling failed waits this long before the next try, doubling up to maxBackoffMs. */
  firstBackoffMs: 2_000,
  /** Due entries read per index shard and sweep (paged). */
  maxDuePerShard: 2_000,
  maxBackoffMs: 300_000,
} as const;
