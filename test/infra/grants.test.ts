/** grantProduce and grantClient: the MSK IAM statements a producer's or a client's role receives. */
import { App, CfnParameter, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { describe, expect, it } from 'vitest';
import { TOPICS } from '#shared/config.ts';
import { CLIENT_DEFAULTS } from '../../client/index.ts';
import { CLIENT_GROUP_ID_PREFIX } from '../../infra/lib/grants.ts';
import { GroupCollector, type GroupCollectorProps } from '../../infra/lib/group-collector.ts';
import { ACCOUNT, CLUSTER_ARN, CLUSTER_PATH, KMS_KEY, NETWORK, REGION, SCRAM_SECRET } from './stacks.ts';

const topicArn = (topic: string) => `arn:aws:kafka:${REGION}:${ACCOUNT}:topic/${CLUSTER_PATH}/${topic}`;
const groupArn = (group: string) => `arn:aws:kafka:${REGION}:${ACCOUNT}:group/${CLUSTER_PATH}/${group}`;

type Kafka = GroupCollectorProps['kafka'];

/** A stack with one collector on the given cluster; `role(name)` adds an application role. */
function setUp(kafka: (stack: Stack) => Kafka, extra: Partial<GroupCollectorProps> = {}) {
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Grants', {
    env: { account: ACCOUNT, region: REGION },
  });
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
    vpcId: NETWORK.vpcId,
    availabilityZones: ['a', 'b'],
    privateSubnetIds: NETWORK.subnetIds,
  });
  const collector = new GroupCollector(stack, 'Collector', {
    kafka: kafka(stack),
    network: {
      vpc,
      subnets: { subnets: vpc.privateSubnets },
      securityGroups: [ec2.SecurityGroup.fromSecurityGroupId(stack, 'Sg', NETWORK.securityGroupIds[0] ?? '')],
    },
    ...extra,
  });
  const role = (name: string) =>
    new iam.Role(stack, name, { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
  return { stack, collector, role };
}

const mskIam = (): Kafka => ({
  kind: 'msk',
  clusterArn: CLUSTER_ARN,
  bootstrapServers: ['b-1.example:9098'],
  auth: 'iam',
});

/** The statements of the named role's policies, as `{ actions, resources }`. */
function statementsOf(template: Template, roleName: string): { actions: string[]; resources: unknown[] }[] {
  const roleId = Object.keys(template.findResources('AWS::IAM::Role')).find((id) => id.startsWith(roleName));
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
    p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId),
  );
  return policies.flatMap((p) =>
    p.Properties.PolicyDocument.Statement.map(
      (s: { Action: string | string[]; Resource: unknown; Effect: string }) => {
        expect(s.Effect).toBe('Allow');
        return { actions: [s.Action].flat(), resources: [s.Resource].flat() };
      },
    ),
  );
}

/**
 * Synthesizing is the slow part: one stack with default topics and three roles (a producer, a
 * client, a client with options), one with the topics renamed, synthesized once each.
 */
const defaults = (() => {
  let template: Template | undefined;
  let grants: { producer: iam.Grant; client: iam.Grant } | undefined;
  return () => {
    if (!template) {
      const { stack, collector, role } = setUp(mskIam);
      grants = {
        producer: collector.grantProduce(role('Producer')),
        client: collector.grantClient(role('Client')),
      };
      collector.grantClient(role('Billing'), {
        outcomeTopics: ['billing.replies', 'team-*'],
        groupIdPrefix: 'billing',
      });
      template = Template.fromStack(stack);
    }
    return { template, grants: grants as NonNullable<typeof grants> };
  };
})();

const PRODUCE = [
  { actions: ['kafka-cluster:Connect', 'kafka-cluster:WriteDataIdempotently'], resources: [CLUSTER_ARN] },
  {
    actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
    resources: [topicArn(TOPICS.input)],
  },
];

describe('GroupCollector.grantProduce', () => {
  it('lets a producer connect and write the input topic idempotently, and nothing else', () => {
    // Prepare / Act: the shared stack's Producer role was given grantProduce
    const { template, grants } = defaults();
    // Assess
    expect(grants.producer.success).toBe(true);
    expect(statementsOf(template, 'Producer')).toEqual(PRODUCE);
  });

  it('derives the topic ARN in CloudFormation when the cluster ARN is known only at deploy time', () => {
    // Prepare: the cluster ARN is a parameter
    const { stack, collector, role } = setUp((s) => ({
      ...mskIam(),
      clusterArn: new CfnParameter(s, 'ClusterArn', { type: 'String' }).valueAsString,
    }));
    // Act
    collector.grantProduce(role('Producer'));
    // Assess: …:cluster/<name>/<uuid> becomes …:topic/<name>/<uuid>/<topic>
    const part = (i: number) => ({
      'Fn::Select': [i, { 'Fn::Split': [':cluster/', { Ref: 'ClusterArn' }] }],
    });
    const [cluster, topic] = statementsOf(Template.fromStack(stack), 'Producer');
    expect(cluster?.resources).toEqual([{ Ref: 'ClusterArn' }]);
    expect(topic?.resources).toEqual([
      { 'Fn::Join': ['', [part(0), ':topic/', part(1), `/${TOPICS.input}`]] },
    ]);
  });

  it('refuses a cluster without IAM access control, pointing to the Kafka ACLs', () => {
    // Prepare
    const { collector, role } = setUp((s) => ({
      kind: 'msk',
      clusterArn: CLUSTER_ARN,
      bootstrapServers: ['b-1.example:9096'],
      auth: 'scram-sha-512',
      secret: secretsmanager.Secret.fromSecretCompleteArn(s, 'Secret', SCRAM_SECRET),
      secretKey: kms.Key.fromKeyArn(s, 'Key', KMS_KEY),
    }));
    const app = role('App');
    // Act / Assess
    expect(() => collector.grantProduce(app)).toThrow(
      /grantProduce: IAM grants apply to MSK with IAM access control only; this collector uses MSK with scram-sha-512.*Kafka ACLs.*docs\/clients\.md/,
    );
    expect(() => collector.grantClient(app)).toThrow(/grantClient: IAM grants apply to MSK with IAM/);
  });
});

describe('GroupCollector.grantClient', () => {
  it('adds reading the outcome topic and creating and deleting the client’s own consumer groups', () => {
    // Prepare / Act: the shared stack's Client role was given grantClient; outcomes go to the input topic by default
    const { template, grants } = defaults();
    // Assess
    expect(grants.client.success).toBe(true);
    expect(statementsOf(template, 'Client')).toEqual([
      ...PRODUCE,
      {
        actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
        resources: [topicArn(TOPICS.outcomes)],
      },
      {
        actions: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup', 'kafka-cluster:DeleteGroup'],
        resources: [groupArn(`${CLIENT_DEFAULTS.groupIdPrefix}-*`)],
      },
    ]);
  });

  it('takes the replyTo topics it awaits and its groupIdPrefix', () => {
    // Prepare / Act: the Billing role was given outcomeTopics and groupIdPrefix
    const { template } = defaults();
    // Assess
    const statements = statementsOf(template, 'Billing');
    expect(statements[2]?.resources).toEqual([
      topicArn(TOPICS.outcomes),
      topicArn('billing.replies'),
      topicArn('team-*'),
    ]);
    expect(statements[3]?.resources).toEqual([groupArn('billing-*')]);
  });

  it('names the topics the construct was given', () => {
    // Prepare
    const { stack, collector, role } = setUp(mskIam, {
      topics: { input: 'collector.in', outcomes: 'collector.out' },
    });
    // Act
    collector.grantClient(role('Client'));
    // Assess
    const statements = statementsOf(Template.fromStack(stack), 'Client');
    expect(statements.map((st) => st.resources)).toEqual([
      [CLUSTER_ARN],
      [topicArn('collector.in')],
      [topicArn('collector.out')],
      [groupArn('group-collector-client-*')],
    ]);
  });

  it('refuses an outcome topic that is no topic name and a prefix with a wildcard', () => {
    // Prepare
    const { collector, role } = setUp(mskIam);
    const app = role('App');
    // Act / Assess
    expect(() => collector.grantClient(app, { outcomeTopics: ['a b'] })).toThrow(
      /outcomeTopics: "a b" is not a topic name or prefix\*/,
    );
    expect(() => collector.grantClient(app, { groupIdPrefix: 'app-*' })).toThrow(/no \* or \?/);
  });

  it('scopes groups with the client’s default prefix', () => {
    expect(CLIENT_GROUP_ID_PREFIX).toBe(CLIENT_DEFAULTS.groupIdPrefix);
  });
});
