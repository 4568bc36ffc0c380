import { type InvocationResult, type InvokeOptions, invokeHandler, type LambdaHandler } from './context.ts';

/** The counters an invoker keeps (part of both emulators' stats). */
export interface InvocationCounters {
  invocations: number;
  failedInvocations: number;
  recordsDelivered: number;
}

/** Invokes the function once with a batch; what deliverBatch calls for every attempt. */
export type Invoker<T> = (records: readonly T[]) => Promise<InvocationResult>;

/**
 * The invoker of a mapping: wraps a batch in the source's event shape, calls the handler
 * in process with a fresh Lambda context, and counts the invocation into `counters`.
 */
export function createInvoker<E, T>(
  handler: LambdaHandler<E>,
  toEvent: (records: readonly T[]) => E,
  options: InvokeOptions,
  counters: InvocationCounters,
): Invoker<T> {
  return async (records) => {
    counters.invocations++;
    counters.recordsDelivered += records.length;
    const result = await invokeHandler(handler, toEvent(records), options);
    if (!result.ok) counters.failedInvocations++;
    return result;
  };
}
