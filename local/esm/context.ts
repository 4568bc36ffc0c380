import { randomBytes, randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { LOCAL } from '#local/settings.ts';
import { InvocationTimeoutError } from './errors.ts';

/** A function as the event source mappings call it. */
export type LambdaHandler<E = unknown> = (event: E, context: Context) => Promise<unknown> | unknown;

export interface ContextOptions {
  functionName: string;
  /** The function's configured timeout: drives `getRemainingTimeInMillis`. */
  timeoutMs?: number;
  memoryMb?: number;
  region?: string;
  now?: () => number;
}

export const LOCAL_ACCOUNT_ID = '000000000000';
const DEFAULT_TIMEOUT_MS = 60_000;

/** The ARN a function of this name would have locally (also used in on-failure records). */
export function functionArn(functionName: string, region: string = LOCAL.region): string {
  return `arn:aws:lambda:${region}:${LOCAL_ACCOUNT_ID}:function:${functionName}`;
}

/**
 * A Lambda-like context for one invocation: a fresh `awsRequestId`, the
 * function's names and ARN, and a clock counting down from the configured timeout.
 * https://docs.aws.amazon.com/lambda/latest/dg/nodejs-context.html
 */
export function createLambdaContext(options: ContextOptions): Context {
  const now = options.now ?? Date.now;
  const region = options.region ?? process.env.AWS_REGION ?? LOCAL.region;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = now() + timeoutMs;
  const day = new Date(now()).toISOString().slice(0, 10).replaceAll('-', '/');
  const legacy = () => {
    throw new Error(
      'context.done/succeed/fail are not supported by the Node.js 18+ runtimes; return or throw',
    );
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: options.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: functionArn(options.functionName, region),
    memoryLimitInMB: String(options.memoryMb ?? 128),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${options.functionName}`,
    logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - now()),
    done: legacy,
    fail: legacy,
    succeed: legacy,
  };
}

export type InvocationResult =
  | { ok: true; response: unknown; requestId: string; durationMs: number }
  | { ok: false; error: unknown; requestId: string; durationMs: number };

export interface InvokeOptions extends ContextOptions {
  /**
   * Enforce the configured timeout: an invocation still running after `timeoutMs` is a failure,
   * as Lambda would stop the function. In-process code cannot be killed, so it keeps running
   * in the background; its result is ignored. Off by default (fast local runs).
   */
  enforceTimeout?: boolean;
}

/** Invokes a handler once in process; a thrown error or rejected promise is a function error. */
export async function invokeHandler<E>(
  handler: LambdaHandler<E>,
  event: E,
  options: InvokeOptions,
): Promise<InvocationResult> {
  const context = createLambdaContext(options);
  const started = Date.now();
  const requestId = context.awsRequestId;
  const run = (async () => handler(event, context))();
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const response = options.enforceTimeout
      ? await Promise.race([
          run,
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () =>
                reject(
                  new InvocationTimeoutError(`Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`),
                ),
              timeoutMs,
            );
          }),
        ])
      : await run;
    return { ok: true, response, requestId, durationMs: Date.now() - started };
  } catch (error) {
    // A late rejection of a timed-out invocation must not become an unhandled rejection.
    run.catch(() => {});
    return { ok: false, error, requestId, durationMs: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}
