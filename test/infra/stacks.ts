/** Stacks shared by the infrastructure tests: one per way of reaching Kafka, each synthesized once. */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CollectorStack, type CollectorStackProps } from '../../infra/lib/collector-stack.ts';

export const ACCOUNT = '111122223333';
export const REGION = 'eu-west-1';
export const CLUSTER_ARN = `arn:aws:kafka:${REGION}:${ACCOUNT}:cluster/eventbus/6f1c2a3b-1d2e-4f5a-9b8c-7d6e5f4a3b2c-3`;
export const CLUSTER_PATH = 'eventbus/6f1c2a3b-1d2e-4f5a-9b8c-7d6e5f4a3b2c-3';
export const SCRAM_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:AmazonMSK_collector-AbCdEf`;
export const SELF_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:eventbus/collector-kafka-AbCdEf`;
export const CA_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:eventbus/kafka-root-ca-GhIjKl`;
export const KMS_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
export const NETWORK = {
  vpcId: 'vpc-0a1b2c3d4e5f67890',
  subnetIds: ['subnet-0a1b2c3d4e5f67891', 'subnet-0a1b2c3d4e5f67892'],
  securityGroupIds: ['sg-0a1b2c3d4e5f67893'],
};

export const VARIANTS = {
  'msk-iam': {
    kafka: 'msk',
    mskClusterArn: CLUSTER_ARN,
    bootstrapServers: ['b-1.eventbus.abcdef.c3.kafka.eu-west-1.amazonaws.com:9098'],
    kafkaAuth: 'iam',
    ...NETWORK,
  },
  'msk-scram': {
    kafka: 'msk',
    mskClusterArn: CLUSTER_ARN,
    bootstrapServers: ['b-1.eventbus.abcdef.c3.kafka.eu-west-1.amazonaws.com:9096'],
    kafkaAuth: 'scram-sha-512',
    kafkaSecretArn: SCRAM_SECRET,
    kafkaSecretKmsKeyArn: KMS_KEY,
    ...NETWORK,
  },
  'self-managed-scram-private': {
    kafka: 'self-managed',
    bootstrapServers: ['kafka-1.internal:9096', 'kafka-2.internal:9096'],
    kafkaAuth: 'scram-sha-512',
    kafkaSecretArn: SELF_SECRET,
    ...NETWORK,
  },
  'self-managed-mtls-public': {
    kafka: 'self-managed',
    bootstrapServers: ['kafka-1.example.com:9094'],
    kafkaAuth: 'mtls',
    kafkaSecretArn: SELF_SECRET,
    kafkaRootCaSecretArn: CA_SECRET,
  },
} satisfies Record<string, CollectorStackProps>;

export type Variant = keyof typeof VARIANTS;

const built = new Map<string, { stack: CollectorStack; template: Template }>();

/** A stack for the variant (with extra props), synthesized once per distinct input. */
export function build(
  variant: Variant,
  extra: Partial<CollectorStackProps> = {},
): { stack: CollectorStack; template: Template } {
  const key = JSON.stringify([variant, extra]);
  let entry = built.get(key);
  if (!entry) {
    // Bundling is skipped here (it is tested once, in bundling.test.ts): the assertions read templates only.
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new CollectorStack(app, 'Test', {
      env: { account: ACCOUNT, region: REGION },
      ...VARIANTS[variant],
      ...extra,
    } as CollectorStackProps);
    entry = { stack, template: Template.fromStack(stack) };
    built.set(key, entry);
  }
  return entry;
}

/** The logical id of the function whose description names it. */
export function functionId(template: Template, name: 'collector' | 'timeouts' | 'sweeper'): string {
  const fns = template.findResources('AWS::Lambda::Function', {
    Properties: { Description: `group collector: ${name}` },
  });
  const [id] = Object.keys(fns);
  if (!id) throw new Error(`no ${name} function`);
  return id;
}

/** Every IAM statement attached to the role of the named function (inline and default policies). */
export function statementsOf(template: Template, name: 'collector' | 'timeouts' | 'sweeper'): Statement[] {
  const fn = template.findResources('AWS::Lambda::Function')[functionId(template, name)];
  const roleId = fn?.Properties.Role['Fn::GetAtt'][0] as string;
  const role = template.findResources('AWS::IAM::Role')[roleId];
  const statements: Statement[] = [];
  for (const p of role?.Properties.Policies ?? []) statements.push(...p.PolicyDocument.Statement);
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    if (policy.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId)) {
      statements.push(...policy.Properties.PolicyDocument.Statement);
    }
  }
  return statements;
}

export interface Statement {
  Action: string | string[];
  Resource: unknown;
  Effect: string;
}

export function actionsOn(statements: Statement[], resource: unknown): string[] {
  const same = (r: unknown) => JSON.stringify(r) === JSON.stringify(resource);
  return statements
    .filter((s) => (Array.isArray(s.Resource) ? s.Resource.some(same) : same(s.Resource)))
    .flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
}
