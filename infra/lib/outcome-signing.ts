/**
 * The outcome signing key (docs/SECURITY.md, "Signed outcomes"): a Secrets Manager secret holding
 * an Ed25519 key set, written at deployment by a custom resource that generates the key (no private
 * key ever passes through CloudFormation or the synthesized template), read only by the three
 * functions. The custom resource returns the public keys: the stack output `OutcomePublicKeys`.
 */
import { type CfnResource, CustomResource, Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { acknowledge } from './acknowledgements.ts';
import type { GroupCollectorProps } from './collector-props.ts';
import { loggingRole } from './functions.ts';
import { KEY_GENERATOR_SOURCE } from './outcome-key-generator.ts';

export interface OutcomeSigning {
  /** The key set's secret: read by the functions only. */
  readonly secret: secretsmanager.Secret;
  /** The public keys (`kid:x`, comma-separated), resolved at deployment. */
  readonly publicKeys: string;
  /** What writes the key: the functions depend on it, so that none publishes before a key exists. */
  readonly resource: CustomResource;
}

/**
 * Reads (and, for the generator, writes) the signing key secret, in the grantee's own policy: with a
 * customer managed key, its use only through Secrets Manager. (Secret.grantRead would add the roles to
 * the key's policy, a dependency cycle with the log groups that key encrypts.)
 */
export function grantSigningSecret(
  grantee: iam.IGrantable,
  secret: secretsmanager.ISecret,
  props: GroupCollectorProps,
  access: 'read' | 'write' = 'read',
): void {
  const write = access === 'write';
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: [
        'secretsmanager:GetSecretValue',
        'secretsmanager:DescribeSecret',
        ...(write ? ['secretsmanager:PutSecretValue'] : []),
      ],
      resources: [secret.secretArn],
    }),
  );
  if (props.encryptionKey) {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', ...(write ? ['kms:Encrypt', 'kms:GenerateDataKey'] : [])],
        resources: [props.encryptionKey.keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(secret).region}.amazonaws.com` },
        },
      }),
    );
  }
}

export function createOutcomeSigning(
  scope: Construct,
  props: GroupCollectorProps,
  removalPolicy: RemovalPolicy,
): OutcomeSigning {
  const secret = new secretsmanager.Secret(scope, 'OutcomeSigningKey', {
    description:
      'group collector: Ed25519 key set that signs outcomes (JWK Set); written by its custom resource',
    encryptionKey: props.encryptionKey,
    removalPolicy,
  });
  const { logGroup, role } = loggingRole(
    scope,
    'OutcomeKeyGenerator',
    props,
    removalPolicy,
    'group collector: writes the outcome signing key at deployment',
  );
  grantSigningSecret(role, secret, props, 'write');
  const generator = new lambda.Function(scope, 'OutcomeKeyGenerator', {
    description: 'group collector: generates the outcome signing key (custom resource)',
    code: lambda.Code.fromInline(KEY_GENERATOR_SOURCE),
    handler: 'index.handler',
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: 256,
    timeout: Duration.seconds(60),
    role,
    logGroup,
  });
  const resource = new CustomResource(scope, 'OutcomeSigningKeyResource', {
    serviceToken: generator.functionArn,
    resourceType: 'Custom::OutcomeSigningKey',
    properties: { SecretId: secret.secretArn, Generation: String(props.outcomeKeyGeneration ?? 1) },
  });
  resource.node.addDependency(role);
  acknowledgeGenerator(generator, secret, role, props);
  return { secret, publicKeys: resource.getAttString('PublicKeys'), resource };
}

/** The generator's and the secret's deliberate check findings (cdk-nag, Guard rules registry), each with its reason. */
function acknowledgeGenerator(
  generator: lambda.Function,
  secret: secretsmanager.Secret,
  role: iam.Role,
  props: GroupCollectorProps,
): void {
  acknowledge(generator, {
    nag: ['AwsSolutions-L1'],
    reason:
      'Node.js 22 is the runtime the functions are tested on; the key generator uses only node:crypto and the runtime AWS SDK.',
  });
  acknowledge(generator.node.defaultChild as CfnResource, {
    nag: ['NIST.800.53.R5-LambdaConcurrency', 'NIST.800.53.R5-LambdaDLQ', 'NIST.800.53.R5-LambdaInsideVPC'],
    guard: ['LAMBDA_CONCURRENCY_CHECK', 'LAMBDA_DLQ_CHECK', 'LAMBDA_INSIDE_VPC'],
    reason:
      'Invoked by CloudFormation only, once per deployment that creates or rotates the key; it reaches Secrets Manager through its public endpoint and reports failures to CloudFormation, which fails the deployment.',
  });
  acknowledge(role, {
    nag: ['NIST.800.53.R5-IAMNoInlinePolicy'],
    guard: ['IAM_NO_INLINE_POLICY_CHECK'],
    reason: 'A role of its own whose policies name only its log group and the signing key secret.',
  });
  acknowledge(secret, {
    nag: ['AwsSolutions-SMG4', 'NIST.800.53.R5-SecretsManagerRotationEnabled'],
    guard: ['SECRETSMANAGER_ROTATION_ENABLED_CHECK'],
    reason:
      'Rotating an Ed25519 signing key must keep the previous key and give clients the new public key first: it is the outcomeKeyGeneration prop (docs/SECURITY.md, "Rotation"), not a Secrets Manager rotation function.',
  });
  if (!props.encryptionKey) {
    acknowledge(secret, {
      nag: ['NIST.800.53.R5-SecretsManagerUsingKMSKey'],
      guard: ['SECRETSMANAGER_USING_CMK'],
      reason:
        'No encryptionKey given: the secret is encrypted with the AWS managed key (aws/secretsmanager); set encryptionKey for a customer managed key.',
    });
    const logGroup = generator.logGroup.node.defaultChild as CfnResource | undefined;
    if (logGroup) {
      acknowledge(logGroup, {
        nag: ['NIST.800.53.R5-CloudWatchLogGroupEncrypted'],
        guard: ['CLOUDWATCH_LOG_GROUP_ENCRYPTED'],
        reason:
          'No encryptionKey given: the logs are encrypted by CloudWatch Logs; set encryptionKey for a customer managed key.',
      });
    }
  }
}
