import type { InvocationResult } from './context.ts';
import { EventSourceStoppedError } from './errors.ts';

/**
 * The error handling both stream-style mappings share (Kafka and DynamoDB Streams):
 * retries of the same batch with exponential backoff, maximum retry attempts,
 * maximum record age, bisection and partial batch responses. Pure control flow:
 * I/O (invoking, checkpointing, discarding, sleeping) is given by the caller.
 *
 * Kafka:    https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html
 * DynamoDB: https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html
 *           https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html
 */
export interface ErrorHandling {
  /** Retries after the first invocation; -1 = until the records expire. */
  maximumRetryAttempts: number;
  /** Records older than this are not sent to the function; -1 = no limit. */
  maximumRecordAgeSeconds: number;
  /** On a function error, split the batch in two and retry each half (does not consume retries). */
  bisectBatchOnFunctionError: boolean;
  /** Interpret the function's `batchItemFailures` response. */
  reportBatchItemFailures: boolean;
}

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** AWS does not document its backoff; locally it doubles from `initialMs` up to `maxMs`. */
export const DEFAULT_BACKOFF: Backoff = { initialMs: 200, maxMs: 5_000 };

export function backoffDelay(retry: number, backoff: Backoff): number {
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, retry - 1));
}

/** Why records were given up on (the `requestContext.condition` of an on-failure record). */
export type FailureCondition = 'RetryAttemptsExhausted' | 'RecordAgeExceeded';

export interface Discarded<T> {
  records: readonly T[];
  condition: FailureCondition;
  /** Invocations made for these records (`approximateInvokeCount`). */
  invokeCount: number;
  lastResult: InvocationResult | undefined;
}

export interface BatchDriver<T> {
  invoke(records: readonly T[]): Promise<InvocationResult>;
  /**
   * Index of the lowest record the response reports as failed; -1 when it reports none
   * (complete success); 0 when the response makes the whole batch fail.
   */
  lowestFailure(records: readonly T[], response: unknown): number;
  /** Epoch ms at which the record entered the source (its age is measured from it). */
  recordTimeMs(record: T): number;
  /** Every record up to and including `last` is done: move the checkpoint past it. */
  checkpoint(last: T): Promise<void>;
  /** Records given up on (sent to the on-failure destination, if any). */
  discard(discarded: Discarded<T>): Promise<void>;
  /** Waits; rejects with EventSourceStoppedError when the source stops. */
  sleep(ms: number): Promise<void>;
  now(): number;
  isStopped(): boolean;
  onRetry?(records: readonly T[], retry: number, result: InvocationResult): void;
}

/**
 * Delivers one batch until every record is done (succeeded, expired or given up on),
 * checkpointing as it goes; checkpoints only ever move forward. Rejects with
 * EventSourceStoppedError when the source stops first (the checkpoint then stays
 * before the unfinished records, which are redelivered: at-least-once).
 */
export async function deliverBatch<T>(
  records: readonly T[],
  handling: ErrorHandling,
  backoff: Backoff,
  driver: BatchDriver<T>,
  retriesSoFar = 0,
): Promise<void> {
  let pending = records;
  let retries = retriesSoFar;
  let invokeCount = 0;
  while (pending.length > 0) {
    if (driver.isStopped()) throw new EventSourceStoppedError('event source stopped');
    // Maximum record age: "the maximum age of a record that Lambda sends to your function".
    // Expired records at the head of the batch are discarded instead of being sent.
    if (handling.maximumRecordAgeSeconds >= 0) {
      const oldestAllowed = driver.now() - handling.maximumRecordAgeSeconds * 1000;
      const lastExpired = pending.findLastIndex((r) => driver.recordTimeMs(r) < oldestAllowed);
      if (lastExpired >= 0) {
        const expired = pending.slice(0, lastExpired + 1);
        await driver.discard({
          records: expired,
          condition: 'RecordAgeExceeded',
          invokeCount,
          lastResult: undefined,
        });
        await driver.checkpoint(expired.at(-1) as T);
        pending = pending.slice(lastExpired + 1);
        continue;
      }
    }
    const result = await driver.invoke(pending);
    invokeCount++;
    if (result.ok) {
      // Without ReportBatchItemFailures the response is ignored: returning = success.
      const failedFrom = handling.reportBatchItemFailures
        ? driver.lowestFailure(pending, result.response)
        : -1;
      if (failedFrom < 0) {
        await driver.checkpoint(pending.at(-1) as T);
        return;
      }
      if (failedFrom > 0) {
        // Checkpoint before the lowest failed record, retry from it.
        await driver.checkpoint(pending[failedFrom - 1] as T);
        pending = pending.slice(failedFrom);
        retries = 0;
        invokeCount = 0;
      }
    }
    if (driver.isStopped()) throw new EventSourceStoppedError('event source stopped');
    // Split batch on error: retry each half separately; the split itself uses no retry.
    if (handling.bisectBatchOnFunctionError && pending.length > 1) {
      const half = Math.ceil(pending.length / 2);
      await deliverBatch(pending.slice(0, half), handling, backoff, driver, retries);
      await deliverBatch(pending.slice(half), handling, backoff, driver, retries);
      return;
    }
    if (handling.maximumRetryAttempts >= 0 && retries >= handling.maximumRetryAttempts) {
      await driver.discard({
        records: pending,
        condition: 'RetryAttemptsExhausted',
        invokeCount,
        lastResult: result,
      });
      await driver.checkpoint(pending.at(-1) as T);
      return;
    }
    retries++;
    driver.onRetry?.(pending, retries, result);
    await driver.sleep(backoffDelay(retries, backoff));
  }
}
