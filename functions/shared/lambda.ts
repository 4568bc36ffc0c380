/**
 * How every function is wrapped for Lambda: middy with Powertools' middlewares (Lambda context in
 * the logs, metrics flushed after each invocation with a cold-start metric) and, only when
 * COLLECTOR_TRACING is true, the X-Ray tracer, loaded on first use so that it stays out of the
 * default bundle (add the Powertools layer when you enable it).
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { loadSettings } from './config.ts';
import { METRICS } from './metrics.ts';
import { environmentRuntime, observability, type Runtime } from './runtime.ts';

export function lambdaHandler<E, R>(
  functionName: string,
  body: (event: E, runtime: Runtime, context: Context) => Promise<R>,
) {
  const settings = loadSettings();
  const { logger, metrics } = observability(functionName, settings);
  const handler = middy(async (event: E, context: Context) =>
    body(event, await environmentRuntime(functionName, { logger, metrics, settings }), context),
  )
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
  return settings.tracing ? handler.use(lazyTracing()) : handler;
}

/** Powertools' tracer middleware, imported on the first invocation. */
function lazyTracing(): MiddlewareObj {
  let loaded: Promise<MiddlewareObj> | undefined;
  // A variable specifier: bundlers leave it alone, so the tracer is not in the default bundle.
  const tracerModule = '@aws-lambda-powertools/tracer';
  const load = () => {
    loaded ??= (async () => {
      const { Tracer } = (await import(tracerModule)) as typeof import('@aws-lambda-powertools/tracer');
      const { captureLambdaHandler } = (await import(
        `${tracerModule}/middleware`
      )) as typeof import('@aws-lambda-powertools/tracer/middleware');
      return captureLambdaHandler(new Tracer({ serviceName: METRICS.service })) as MiddlewareObj;
    })();
    return loaded;
  };
  return {
    before: async (request) => (await load()).before?.(request),
    after: async (request) => (await load()).after?.(request),
    onError: async (request) => (await load()).onError?.(request),
  };
}
