/**
 * A CDK app that deploys the group collector on a self-managed Kafka cluster reached over the
 * internet with SASL/SCRAM and TLS (brokers whose certificates a private CA signed). In your own
 * app, import from 'eventbus-group-collector'; this copy imports the package's source.
 *
 *   npx cdk synth --app 'npx tsx examples/self-managed.ts'
 *
 * Replace the example ids (account, brokers, secrets, SNS topic) with yours.
 */
import { App, Stack } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { GroupCollector } from '../infra/index.ts';

export const app = new App();
const stack = new Stack(app, 'ShippingCollector', { env: { account: '123456789012', region: 'eu-west-1' } });

new GroupCollector(stack, 'Collector', {
  kafka: {
    kind: 'self-managed',
    bootstrapServers: ['kafka-1.example.com:9096', 'kafka-2.example.com:9096'],
    auth: 'scram-sha-512',
    // {"username","password"}: used by the event source mapping and by the functions' producers.
    secret: secretsmanager.Secret.fromSecretCompleteArn(
      stack,
      'KafkaSecret',
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shipping/collector-kafka-AbCdEf',
    ),
    // {"certificate": "<PEM>"} of the CA that signed the brokers' certificates.
    rootCaSecret: secretsmanager.Secret.fromSecretCompleteArn(
      stack,
      'KafkaRootCa',
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shipping/kafka-root-ca-GhIjKl',
    ),
  },
  consumerGroupId: 'shipping-collector',
  alarmTopic: sns.Topic.fromTopicArn(stack, 'OnCall', 'arn:aws:sns:eu-west-1:123456789012:shipping-on-call'),
  // The team has its own dashboards; the dead-letter alarm is left to the topic's consumers.
  dashboard: false,
  alarms: { deadLetters: false },
  reservedConcurrency: { collector: 6, timeouts: 2, sweeper: 1 },
});
