/**
 * The DynamoDB client every part builds (functions, local services, tests, `inspectGroup`): its
 * own module, so that a tool needing only DynamoDB does not load the runtime's logger, metrics
 * and Kafka publisher.
 */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';

/** Credentials for DynamoDB Local / LocalStack, which accept any. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/**
 * A DynamoDB client. With an endpoint (DynamoDB Local, LocalStack) it signs with dummy credentials
 * in `region` (default us-east-1); without, the environment's credentials and `region` if given, else
 * the environment's (Lambda).
 */
export function dynamoClient(
  options: { endpoint?: string; region?: string; config?: DynamoDBClientConfig } = {},
) {
  return new DynamoDBClient(
    options.endpoint
      ? {
          endpoint: options.endpoint,
          region: options.region ?? 'us-east-1',
          credentials: LOCAL_CREDENTIALS,
          ...options.config,
        }
      : { ...(options.region ? { region: options.region } : {}), ...options.config },
  );
}
