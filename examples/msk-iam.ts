/**
 * A CDK app that deploys the group collector on an Amazon MSK cluster with IAM access control.
 * In your own app, import from 'eventbus-group-collector'; this copy imports the package's source.
 *
 *   npx cdk synth --app 'npx tsx examples/msk-iam.ts'
 *
 * Replace the example ids (account, cluster, VPC, subnets, security group, SNS topic) with yours.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as sns from 'aws-cdk-lib/aws-sns';
import { GroupCollector } from '../infra/index.ts';

export const app = new App();
const stack = new Stack(app, 'OrdersCollector', { env: { account: '123456789012', region: 'eu-west-1' } });

// The cluster's VPC, imported by id: synth needs no credentials (Vpc.fromLookup would work too).
const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
  vpcId: 'vpc-0a1b2c3d4e5f67890',
  availabilityZones: ['eu-west-1a', 'eu-west-1b'],
  privateSubnetIds: ['subnet-0a1b2c3d4e5f67891', 'subnet-0a1b2c3d4e5f67892'],
  privateSubnetRouteTableIds: ['rtb-0a1b2c3d4e5f67891', 'rtb-0a1b2c3d4e5f67892'],
});
// Let in on port 9098 by the brokers' security group.
const clientSecurityGroup = ec2.SecurityGroup.fromSecurityGroupId(stack, 'Clients', 'sg-0a1b2c3d4e5f67893', {
  mutable: false,
});

new GroupCollector(stack, 'Collector', {
  kafka: {
    kind: 'msk',
    clusterArn:
      'arn:aws:kafka:eu-west-1:123456789012:cluster/eventbus/6f1c2a3b-1d2e-4f5a-9b8c-7d6e5f4a3b2c-3',
    // The IAM bootstrap brokers (port 9098): aws kafka get-bootstrap-brokers --cluster-arn …
    bootstrapServers: [
      'b-1.eventbus.abcdef.c3.kafka.eu-west-1.amazonaws.com:9098',
      'b-2.eventbus.abcdef.c3.kafka.eu-west-1.amazonaws.com:9098',
    ],
    auth: 'iam',
  },
  network: { vpc, subnets: { subnets: vpc.privateSubnets }, securityGroups: [clientSecurityGroup] },
  topics: { input: 'orders.collector', outcomes: 'orders.outcomes', deadLetter: 'orders.collector.dlq' },
  // A new deployment: name its consumer group (create-only; changing it replays the topic).
  consumerGroupId: 'orders-collector',
  retention: Duration.days(3),
  // Who is told when an alarm goes off (and when it is over).
  alarmTopic: sns.Topic.fromTopicArn(stack, 'OnCall', 'arn:aws:sns:eu-west-1:123456789012:orders-on-call'),
  alarms: {
    // Dead letters come in small bursts here: alarm on more than a few in 15 minutes.
    deadLetters: { threshold: 10, evaluationPeriods: 3, datapointsToAlarm: 1 },
    offsetLag: { threshold: 50_000 },
  },
  // One collector per poller (the default provisioned mode has up to 6), a few for the timeouts.
  reservedConcurrency: { collector: 6, timeouts: 2, sweeper: 1 },
});
