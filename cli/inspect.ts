/**
 * `group-collector inspect <group-id>`: one group as an operator needs it (status, created,
 * deadline, counts, missing members, errors, early reports waiting, the outcome and whether it
 * was published), read from the collector's table: DynamoDB Local by default, a deployed table
 * with `--table` or `--stack` (its `TableName` output).
 */
import { parseArgs } from 'node:util';
import { parseOutcomeKeys } from '../functions/core/signing.ts';
import { formatInspection, inspectGroup } from '../functions/service/inspect.ts';
import { ENV } from '../functions/shared/config.ts';
import { TABLE } from '../functions/store/layout.ts';
import { LOCAL } from '../local/settings.ts';
import { awsFailure, CommandError, UsageError } from './errors.ts';
import type { Command, Io } from './types.ts';

/** Where `inspect` finds the outcome public keys when `--outcome-keys` is not given. */
export const OUTCOME_KEYS_ENV = 'COLLECTOR_OUTCOME_KEYS';

const USAGE = `usage: group-collector inspect GROUP_ID [--json] [--outcome-keys KEYS] [--table NAME | --stack NAME] [--endpoint URL] [--region REGION]

  --json          print one JSON object (status, created, deadline, overdue, counts, missing,
                  errors, early, outcomeTopic, published, outcome, signature, inspectedAt)
  --outcome-keys  the collector's outcome public keys, kid:x (the stack output OutcomePublicKeys,
                  or npm start's "outcome keys:" line; comma-separated or repeated; default:
                  $${OUTCOME_KEYS_ENV}): a decided group's stored signature is checked against its
                  outcome (signature: valid, INVALID, key not given; without keys, not checked)
  --table         the collector's table (default: $${ENV.tableName}, else ${TABLE.defaultName})
  --stack         read the table name from a deployed stack's TableName output (CloudFormation)
  --endpoint      DynamoDB endpoint (default: $${ENV.dynamodbEndpoint}; without --table or --stack,
                  DynamoDB Local at http://localhost:${LOCAL.dynamodbPort})
  --region        AWS Region (default: the AWS SDK's: $AWS_REGION, profile)

Exit code: 0 for a group found, 3 for an unknown group id, 1 for a table that cannot be read (the
message names the endpoint, table and region, and the fix), 2 for a wrong command line.`;

export const inspectCommand: Command = {
  summary: 'show one group: status, deadline, missing members, errors, early reports, outcome',
  async run(args, io) {
    let parsed: ReturnType<typeof parse>;
    try {
      parsed = parse(args);
    } catch (error) {
      throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    }
    const { values, positionals } = parsed;
    if (values.help) {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const [groupId, ...extra] = positionals;
    if (groupId === undefined || extra.length > 0) throw new UsageError(`one group id is needed\n\n${USAGE}`);
    if (values.table !== undefined && values.stack !== undefined) {
      throw new UsageError(`--table and --stack name the same thing: give one\n\n${USAGE}`);
    }
    const outcomeKeys = outcomeKeysOf(values['outcome-keys'], io);
    const target = await resolveTarget(values, io);
    const region = values.region ?? regionOf(io.env) ?? (target.endpoint ? LOCAL_REGION : undefined);
    const where = { endpoint: target.endpoint, region, table: target.tableName };
    let view: Awaited<ReturnType<typeof inspectGroup>>;
    try {
      view = await inspectGroup(groupId, { ...target, region: values.region, outcomeKeys });
    } catch (error) {
      throw awsFailure(error, { ...where, action: `read table ${target.tableName}` });
    }
    io.stdout.write(`${values.json ? JSON.stringify(view) : formatInspection(view)}\n`);
    if (view.status === 'unknown') {
      const at = target.endpoint
        ? `at ${target.endpoint}`
        : `on AWS in region ${region ?? '(from the profile)'}`;
      io.stderr.write(
        `group-collector inspect: no group "${groupId}" in table ${target.tableName} ${at} ` +
          '(never created, removed after its retention, or another table: --table, --stack, --endpoint, --region)\n',
      );
    }
    return view.status === 'unknown' ? 3 : 0;
  },
};

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean', default: false },
      table: { type: 'string' },
      stack: { type: 'string' },
      endpoint: { type: 'string' },
      region: { type: 'string' },
      'outcome-keys': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

/** The outcome keys from the flags, else the environment; checked here (a wrong one is a usage error). */
function outcomeKeysOf(flags: string[] | undefined, io: Io): string[] | undefined {
  const keys = flags ?? (io.env[OUTCOME_KEYS_ENV] ? [io.env[OUTCOME_KEYS_ENV]] : undefined);
  if (!keys) return undefined;
  try {
    parseOutcomeKeys(keys);
  } catch (error) {
    throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
  }
  return keys;
}

/** Where the table is: flags first, then the environment, then DynamoDB Local as `npm start` runs it. */
async function resolveTarget(
  values: { table?: string; stack?: string; endpoint?: string; region?: string },
  io: Io,
): Promise<{ tableName: string; endpoint?: string }> {
  const endpoint = values.endpoint ?? (io.env[ENV.dynamodbEndpoint] || undefined);
  if (values.stack !== undefined) {
    return { tableName: await tableOfStack(values.stack, values.region, io), endpoint };
  }
  const envTable = io.env[ENV.tableName] || undefined;
  const tableName = values.table ?? envTable ?? TABLE.defaultName;
  const aws = values.table !== undefined || envTable !== undefined;
  return { tableName, endpoint: endpoint ?? (aws ? undefined : `http://localhost:${LOCAL.dynamodbPort}`) };
}

/** The SDK's own region variables (a profile's region is known only to the SDK). */
const regionOf = (env: Io['env']) => env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined;

/** The region the DynamoDB client uses for a local endpoint when none is given. */
const LOCAL_REGION = 'us-east-1';

async function tableOfStack(stackName: string, region: string | undefined, io: Io): Promise<string> {
  const { CloudFormationClient, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  const client = new CloudFormationClient(region ? { region } : {});
  const where = { endpoint: undefined, region: region ?? regionOf(io.env), stack: stackName };
  try {
    const out = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    const outputs = out.Stacks?.[0]?.Outputs ?? [];
    const table = outputs.find((o) => o.OutputKey === 'TableName')?.OutputValue;
    if (!table) {
      throw new CommandError(
        `stack ${stackName} (region ${where.region ?? '(from the profile)'}) has no TableName output ` +
          `(its outputs: ${outputs.map((o) => o.OutputKey).join(', ') || 'none'})\n` +
          `  fix: give --table with the collector's table name (aws cloudformation describe-stack-resources --stack-name ${stackName})`,
      );
    }
    return table;
  } catch (error) {
    throw awsFailure(error, { ...where, action: `read stack ${stackName}` });
  } finally {
    client.destroy();
  }
}
