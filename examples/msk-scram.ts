/**
 * A CDK app that deploys the group collector on an Amazon MSK cluster with SASL/SCRAM, and keeps
 * its data under a customer managed KMS key. In your own app, import from 'eventbus-group-collector';
 * this copy imports the package's source.
 *
 *   npx cdk synth --app 'npx tsx examples/msk-scram.ts'
 *
 * Replace the example ids (account, cluster, secret, keys, VPC, subnets, security group, SNS topic) with yours.
 */
import { App, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { GroupCollector } from '../infra/index.ts';

export const app = new App();
const stack = new Stack(app, 'PaymentsCollector', { env: { account: '123456789012', region: 'eu-west-1' } });

const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
  vpcId: 'vpc-0a1b2c3d4e5f67890',
  availabilityZones: ['eu-west-1a', 'eu-west-1b'],
  privateSubnetIds: ['subnet-0a1b2c3d4e5f67891', 'subnet-0a1b2c3d4e5f67892'],
  privateSubnetRouteTableIds: ['rtb-0a1b2c3d4e5f67891', 'rtb-0a1b2c3d4e5f67892'],
});
// Let in on port 9096 by the brokers' security group.
const clientSecurityGroup = ec2.SecurityGroup.fromSecurityGroupId(stack, 'Clients', 'sg-0a1b2c3d4e5f67893', {
  mutable: false,
});

// The SCRAM secret associated with the cluster: MSK requires the AmazonMSK_ prefix and a customer
// managed key, which the functions and the mapping are granted to decrypt through Secrets Manager.
const secret = secretsmanager.Secret.fromSecretCompleteArn(
  stack,
  'KafkaSecret',
  'arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_payments-collector-AbCdEf',
);
const secretKey = kms.Key.fromKeyArn(
  stack,
  'KafkaSecretKey',
  'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
);

// The key of the table, the stream mapping's on-failure queue and the log groups. Made here, it gets
// the statement CloudWatch Logs needs; an imported key's policy must allow logs.<region>.amazonaws.com.
const dataKey = new kms.Key(stack, 'CollectorKey', {
  description: 'payments group collector: table, on-failure queue and logs',
  enableKeyRotation: true,
});

new GroupCollector(stack, 'Collector', {
  kafka: {
    kind: 'msk',
    clusterArn:
      'arn:aws:kafka:eu-west-1:123456789012:cluster/eventbus/6f1c2a3b-1d2e-4f5a-9b8c-7d6e5f4a3b2c-3',
    // The SASL/SCRAM bootstrap brokers (port 9096).
    bootstrapServers: [
      'b-1.eventbus.abcdef.c3.kafka.eu-west-1.amazonaws.com:9096',
      'b-2.eventbus.abcdef.c3.kafka.eu-west-1.amazonaws.com:9096',
    ],
    auth: 'scram-sha-512',
    secret,
    secretKey,
  },
  network: { vpc, subnets: { subnets: vpc.privateSubnets }, securityGroups: [clientSecurityGroup] },
  topics: {
    input: 'payments.collector',
    outcomes: 'payments.outcomes',
    deadLetter: 'payments.collector.dlq',
  },
  consumerGroupId: 'payments-collector',
  encryptionKey: dataKey,
  alarmTopic: sns.Topic.fromTopicArn(stack, 'OnCall', 'arn:aws:sns:eu-west-1:123456789012:payments-on-call'),
  reservedConcurrency: { collector: 6, timeouts: 2, sweeper: 1 },
});
