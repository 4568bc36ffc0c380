/**
 * Partial batch responses (ReportBatchItemFailures), shared by the Kafka and DynamoDB Streams
 * events: only the form of `itemIdentifier` differs (kafka-event.ts, stream-event.ts).
 */

/**
 * Index of the lowest record a partial batch response (`{"batchItemFailures":[{"itemIdentifier":…}]}`)
 * reports as failed. -1 = success (no response, null or empty list); 0 = the whole batch failed (a
 * malformed response, or an identifier that `indexOf` cannot place in the batch, where it returns -1).
 */
export function lowestReportedFailure(
  response: unknown,
  indexOf: (itemIdentifier: unknown) => number,
): number {
  if (response == null || typeof response !== 'object') return -1;
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures == null) return -1;
  if (!Array.isArray(failures)) return 0;
  let lowest = -1;
  for (const failure of failures) {
    const index = indexOf((failure as { itemIdentifier?: unknown } | null)?.itemIdentifier);
    if (index < 0) return 0;
    if (lowest < 0 || index < lowest) lowest = index;
  }
  return lowest;
}
