/**
 * `group-collector inspect <group-id>`: one group as an operator needs it (status, created,
 * deadline, counts, missing members, errors, early reports waiting, the outcome and whether it
 * was published), read from the collector's table: DynamoDB Local by default, a deployed table
 * with `--table` or `--stack` (its `TableName` output).
 */
import { parseArgs } from 'node:util';
import { formatInspection, inspectGroup } from '../functions/service/inspect.ts';
import { ENV } from '../functions/shared/config.ts';
import { TABLE } from '../functions/store/layout.ts';
import { LOCAL } from '../local/settings.ts';
import { UsageError } from './errors.ts';
import type { Command, Io } from './types.ts';

const USAGE = `usage: group-collector inspect GROUP_ID [--json] [--table NAME | --stack NAME] [--endpoint URL] [--region REGION]

  --json        print one JSON object (status, created, deadline, overdue, counts, missing,
                errors, early, outcomeTopic, published, outcome, inspectedAt)
  --table       the collector's table (default: $${ENV.tableName}, else ${TABLE.defaultName})
  --stack       read the table name from a deployed stack's TableName output (CloudFormation)
  --endpoint    DynamoDB endpoint (default: $${ENV.dynamodbEndpoint}; without --table or --stack,
                DynamoDB Local at http://localhost:${LOCAL.dynamodbPort})
  --region      AWS Region (default: the AWS SDK's: $AWS_REGION, profile)

Exit code: 0 for a group found, 3 for an unknown group id, 2 for a wrong command line.`;

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
    const target = await resolveTarget(values, io);
    const view = await inspectGroup(groupId, { ...target, region: values.region });
    io.stdout.write(`${values.json ? JSON.stringify(view) : formatInspection(view)}\n`);
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
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

/** Where the table is: flags first, then the environment, then DynamoDB Local as `npm start` runs it. */
async function resolveTarget(
  values: { table?: string; stack?: string; endpoint?: string; region?: string },
  io: Io,
): Promise<{ tableName: string; endpoint?: string }> {
  const endpoint = values.endpoint ?? (io.env[ENV.dynamodbEndpoint] || undefined);
  if (values.stack !== undefined) {
    return { tableName: await tableOfStack(values.stack, values.region), endpoint };
  }
  const envTable = io.env[ENV.tableName] || undefined;
  const tableName = values.table ?? envTable ?? TABLE.defaultName;
  const aws = values.table !== undefined || envTable !== undefined;
  return { tableName, endpoint: endpoint ?? (aws ? undefined : `http://localhost:${LOCAL.dynamodbPort}`) };
}

async function tableOfStack(stackName: string, region: string | undefined): Promise<string> {
  const { CloudFormationClient, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  const client = new CloudFormationClient(region ? { region } : {});
  try {
    const out = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    const table = out.Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === 'TableName')?.OutputValue;
    if (!table) throw new UsageError(`stack ${stackName} has no TableName output`);
    return table;
  } finally {
    client.destroy();
  }
}
