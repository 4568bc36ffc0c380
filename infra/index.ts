/**
 * The package's root export (`eventbus-group-collector`): the GroupCollector construct, its props
 * and the types they use. The client is `eventbus-group-collector/client`.
 */
export {
  type AlarmSettings,
  type CollectorAlarms,
  type CollectorFunctions,
  type CollectorReservedConcurrency,
  type CollectorTopics,
  type GrantClientOptions,
  GroupCollector,
  type GroupCollectorProps,
  GroupCollectorValidationError,
  LEGACY_CONSUMER_GROUP_ID,
  LOG_RETENTION_DAYS,
  WARNINGS,
} from './lib/group-collector.ts';
export { HANDLER_SIZE_LIMIT_BYTES } from './lib/handlers.ts';
export type {
  CollectorNetwork,
  KafkaAuth,
  KafkaCluster,
  MskAuth,
  MskKafka,
  SelfManagedAuth,
  SelfManagedKafka,
} from './lib/kafka-access.ts';
