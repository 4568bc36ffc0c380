/**
 * `npm run test:localstack`: the integration suite against LocalStack's DynamoDB and DynamoDB
 * Streams, run on this host without Docker (local/services/localstack.ts says how), and the
 * project's own Kafka broker. Installs the pinned runtime into `.cache/` on first use, starts
 * LocalStack, runs `vitest run --project integration` against it (arguments after `--` go to
 * vitest), then stops it, whatever the outcome. Exit code: vitest's.
 *
 * TEST_LOCALSTACK_DIR: where the runtime is kept (default .cache/localstack-<version>);
 * TEST_LOCALSTACK_PYTHON: a Python 3.13; TEST_LOCALSTACK_PORT: its port (default a free one);
 * PROVIDER_OVERRIDE_DYNAMODBSTREAMS=v2: LocalStack's other Streams provider instead of its default.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  installLocalStack,
  LOCALSTACK_VERSION,
  type LocalStackNode,
  localStackHome,
  startLocalStack,
} from '#local/services/localstack.ts';
import { freePort, projectRoot } from '#local/services/process.ts';

const log = (line: string) => console.log(`[localstack] ${line}`);
const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

async function main(): Promise<number> {
  const started = Date.now();
  const home = localStackHome();
  const python = installLocalStack(home, log);
  const dataDir = mkdtempSync(join(tmpdir(), 'group-collector-localstack-'));
  let node: LocalStackNode | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await node?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    })();
    return stopping;
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => void stop().then(() => process.exit(130)));
  }
  try {
    const startedAt = Date.now();
    node = await startLocalStack({
      home,
      python,
      port: Number(process.env.TEST_LOCALSTACK_PORT) || (await freePort()),
      dataDir,
      onExit: (how) => log(`error: LocalStack ${how}`),
    });
    log(
      `LocalStack ${LOCALSTACK_VERSION} ready at ${node.endpoint} in ${seconds(startedAt)} ` +
        `(DynamoDB Streams provider: ${node.streamsProvider})`,
    );
    const endpoint = node.endpoint;
    const code = await new Promise<number>((resolve) => {
      const vitest = spawn('npx', ['vitest', 'run', '--project', 'integration', ...process.argv.slice(2)], {
        cwd: projectRoot,
        stdio: 'inherit',
        env: { ...process.env, DYNAMODB_ENDPOINT: endpoint },
      });
      vitest.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
    });
    log(
      `integration suite against LocalStack: ${code === 0 ? 'passed' : 'FAILED'}; ${seconds(started)} in all`,
    );
    return code;
  } finally {
    await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
