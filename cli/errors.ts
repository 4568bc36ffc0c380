/** A mistake in the command line: exit code 2 and the message, no stack trace. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * A failure the command explains: what it was doing, where (endpoint, table or topic, region), what
 * the service said and how to fix it. Exit code 1 (or `exitCode`), the message, no stack trace.
 */
export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    message: string,
    readonly exitCode = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Where an AWS call went, as the command line resolved it. */
export interface AwsTarget {
  /** What was being done: `read table eventbus-group-collector`, `read stack Orders`. */
  readonly action: string;
  /** An endpoint given (`--endpoint`, `$DYNAMODB_ENDPOINT`) or DynamoDB Local's; absent for AWS. */
  readonly endpoint: string | undefined;
  /** `--region`, else the environment's; absent when only a profile could say. */
  readonly region: string | undefined;
  /** The table, when the call was on one (for a missing table). */
  readonly table?: string;
  /** The stack, when the call was on one (for a missing stack). */
  readonly stack?: string;
}

/** The error's name, message and code, through an AggregateError's first error (connection refused). */
function facts(error: unknown): { name: string; message: string; code: string | undefined } {
  const e = error as { name?: unknown; message?: unknown; code?: unknown; errors?: unknown[] } | undefined;
  const inner = Array.isArray(e?.errors) && e.errors.length > 0 ? facts(e.errors[0]) : undefined;
  const name = typeof e?.name === 'string' ? e.name : 'Error';
  const message =
    typeof e?.message === 'string' && e.message !== '' ? e.message : (inner?.message ?? String(error));
  const code = typeof e?.code === 'string' ? e.code : inner?.code;
  return { name, message, code };
}

/**
 * An AWS SDK error as a {@link CommandError} that names the endpoint, table or stack and region, and
 * says what to do: a missing region or credentials, a table or stack that does not exist, access
 * denied, nothing listening at the endpoint. Anything else keeps the SDK's message, with where.
 */
export function awsFailure(error: unknown, target: AwsTarget): CommandError {
  if (error instanceof CommandError || error instanceof UsageError) return error as CommandError;
  const { name, message, code } = facts(error);
  const where = target.endpoint
    ? `at ${target.endpoint}${target.region ? ` (region ${target.region})` : ''}`
    : `on AWS in region ${target.region ?? '(none set)'}`;
  const fix = fixFor(name, message, code, target);
  return new CommandError(`cannot ${target.action} ${where}: ${message}${fix ? `\n  fix: ${fix}` : ''}`, 1, {
    cause: error,
  });
}

function fixFor(
  name: string,
  message: string,
  code: string | undefined,
  target: AwsTarget,
): string | undefined {
  if (/region is missing/i.test(message)) {
    return 'give --region REGION, or set AWS_REGION (or a region in your AWS profile)';
  }
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(message)) {
    return 'sign in (aws sso login, or set AWS_PROFILE / AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); for DynamoDB Local give --endpoint, which needs none';
  }
  if (/ExpiredToken|TokenRefreshRequired/.test(name) || /token.*expired/i.test(message)) {
    return 'the AWS credentials have expired: sign in again (aws sso login, or new session credentials)';
  }
  if (name === 'UnrecognizedClientException' || name === 'InvalidClientTokenId') {
    return 'the AWS credentials are not valid in this account or region: check AWS_PROFILE and --region';
  }
  if (name === 'AccessDeniedException' || name === 'AccessDenied') {
    return target.table
      ? `the caller needs dynamodb:GetItem and dynamodb:Query on table ${target.table}`
      : 'the caller needs cloudformation:DescribeStacks on the stack';
  }
  if (name === 'ResourceNotFoundException' && target.table) {
    return `no table ${target.table} there: check --table, --stack or $TABLE_NAME, and --region${
      target.endpoint ? '; locally, start the collector first (npm start)' : ''
    }`;
  }
  if (target.stack && /does not exist/i.test(message)) {
    return `no stack ${target.stack} in this account and region: check the stack name and --region`;
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ETIMEDOUT') {
    return target.endpoint
      ? `nothing answers at ${target.endpoint}: start the local collector (npm start), or give --endpoint of a running DynamoDB; for a deployed table, give --table or --stack and no endpoint`
      : 'the AWS endpoint is unreachable from here: check the network and --region';
  }
  return undefined;
}

/** Where a Kafka call went. */
export interface KafkaTarget {
  readonly brokers: readonly string[];
  readonly topic: string;
}

/** A kafkajs error as a {@link CommandError} that names the brokers and topic and says what to do. */
export function kafkaFailure(error: unknown, target: KafkaTarget): CommandError {
  if (error instanceof CommandError || error instanceof UsageError) return error as CommandError;
  const { name, message, code } = facts(error);
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  const text = cause === undefined ? message : `${message} ${facts(cause).message}`;
  let fix: string | undefined;
  if (
    /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|Connection (error|timeout)/i.test(text) ||
    code === 'ECONNREFUSED'
  ) {
    fix = `nothing answers at ${target.brokers.join(',')}: start the local collector (npm start), or give --brokers (or set KAFKA_BROKERS) of a running cluster`;
  } else if (/does not host this topic-partition|UNKNOWN_TOPIC/i.test(text)) {
    fix = `topic ${target.topic} does not exist on that cluster (it is not created on use): check --topic, or create the topic`;
  } else if (/SASL|authentication/i.test(`${name} ${text}`)) {
    fix = 'the cluster refused the credentials: check the SASL mechanism, user name and password';
  } else if (/not authorized|AUTHORIZATION_FAILED/i.test(text)) {
    fix = `the principal needs Write (and Describe) on topic ${target.topic}`;
  }
  return new CommandError(
    `cannot send to topic ${target.topic} on ${target.brokers.join(',')}: ${message}${fix ? `\n  fix: ${fix}` : ''}`,
    1,
    { cause: error },
  );
}
