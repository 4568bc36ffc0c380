/**
 * Local stand-ins for Lambda's event source mappings (Kafka and DynamoDB Streams),
 * used by the integration tests, the benchmarks and `npm start`.
 */
export {
  createLambdaContext,
  functionArn,
  type InvocationResult,
  invokeHandler,
  type LambdaHandler,
} from './context.ts';
export {
  EventSourceConfigurationError,
  EventSourceStoppedError,
  FilterPatternError,
  InvocationTimeoutError,
} from './errors.ts';
export { type FilterPattern, matchesAnyFilter, matchesPattern, validatePattern } from './filter.ts';
export {
  buildKafkaEvent,
  type KafkaEventForm,
  type LambdaKafkaEvent,
  type LambdaKafkaRecord,
  LOCAL_CLUSTER_ARN,
  lowestKafkaFailure,
  onFailureRecord,
  toLambdaKafkaRecord,
} from './kafka-event.ts';
export {
  type KafkaEventSource,
  type KafkaEventSourceOptions,
  type KafkaEventSourceStats,
  startKafkaEventSource,
} from './kafka-event-source.ts';
export { type Backoff, DEFAULT_BACKOFF, deliverBatch, type ErrorHandling } from './retry.ts';
export { shapeOf } from './shape.ts';
export { lowestStreamFailure, streamFailureRecord, toLambdaStreamRecord } from './stream-event.ts';
export {
  type StreamEventSource,
  type StreamEventSourceOptions,
  type StreamEventSourceStats,
  startStreamEventSource,
} from './stream-event-source.ts';
