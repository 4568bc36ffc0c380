/**
 * The README walkthrough, run as written: every `sh` block of its "Walkthrough" section, in order, in
 * one shell, against `npm start` (started here on free ports), each compared with the output block
 * the README shows after it. Then `npm start` as a service: a Kafka or DynamoDB Local that ends
 * underneath it is named and ends it with code 1; SIGTERM to npm's process stops every child and
 * frees the ports; a port in use is reported before anything starts.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, portOpen } from '#local/services/process.ts';
import { START_LINES } from '#local/settings.ts';
import {
  alive,
  commandLine,
  descendants,
  npmStart,
  ownServicesEnv,
  ROOT,
  type Started,
} from '../helpers/npm-start.ts';

interface Step {
  readonly commands: string;
  readonly expected: string[];
}

/** The walkthrough's steps: each `sh` block (kcat alternatives excepted) and the output blocks after it. */
function walkthroughSteps(readme: string): Step[] {
  const start = readme.indexOf('\n## Walkthrough\n');
  const end = readme.indexOf("<!-- end of the walkthrough test's section -->");
  if (start < 0 || end < start) throw new Error('README.md has no walkthrough section');
  const blocks = [...readme.slice(start, end).matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({
    lang: m[1] ?? '',
    body: m[2] ?? '',
  }));
  const steps: { commands: string; expected: string[] }[] = [];
  let current: { commands: string; expected: string[] } | undefined;
  for (const block of blocks) {
    if (block.lang === 'sh') {
      // A kcat block is an alternative to the produce command before it, not a step after it.
      current = block.body.includes('kcat') ? undefined : { commands: block.body, expected: [] };
      if (current) steps.push(current);
    } else {
      current?.expected.push(...block.body.split('\n').filter((line) => line.trim() !== ''));
    }
  }
  return steps;
}

/** Ids, times, partitions and offsets differ from run to run. */
function masked(line: string): string {
  return line
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<id>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
    .replace(/(eventbus-collector[\w.]*)\/\d+@\d+/g, '$1/<p>@<o>')
    .replace(/collector-source-(partition|offset)=\d+/g, 'collector-source-$1=<n>')
    .trimEnd();
}

/** The expected lines in order among the printed ones (others, such as npm's banner, may come between). */
function inOrder(printed: string[], expected: string[]): boolean {
  let at = 0;
  for (const line of printed) if (at < expected.length && line === expected[at]) at++;
  return at === expected.length;
}

function runShell(
  script: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn('bash', ['-c', script], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('exit', (code) => done({ code, out, err }));
  });
}

const waitUntil = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000) => {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

describe('the README walkthrough against npm start', () => {
  let kafkaPort: number;
  let dynamodbPort: number;
  let service: Started;

  beforeAll(async () => {
    kafkaPort = await freePort();
    dynamodbPort = await freePort();
    service = npmStart(
      ownServicesEnv({ LOCAL_KAFKA_PORT: String(kafkaPort), LOCAL_DYNAMODB_PORT: String(dynamodbPort) }),
    );
    await service.ready;
  });

  afterAll(async () => {
    if (service.child.exitCode === null) {
      for (const pid of [service.pid, ...descendants(service.pid)]) {
        if (alive(pid)) process.kill(pid, 'SIGTERM');
      }
      await service.exited;
    }
  });

  it('prints what the README shows, block after block', async () => {
    // Prepare: the README's blocks, in one shell (variables carry over, as in a terminal).
    const steps = walkthroughSteps(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    const script = [
      'set -euo pipefail',
      ...steps.flatMap((step, i) => [`echo '@@step ${i}@@'`, step.commands]),
      "echo '@@end@@'",
    ].join('\n');
    const env = ownServicesEnv({
      KAFKA_BROKERS: `127.0.0.1:${kafkaPort}`,
      DYNAMODB_ENDPOINT: `http://127.0.0.1:${dynamodbPort}`,
    });
    // Act
    const run = await runShell(script, env);
    // Assess: every step ran, and each printed the README's lines in order.
    expect(steps.length).toBeGreaterThanOrEqual(8);
    expect({ code: run.code, end: run.out.includes('@@end@@') }, run.err).toEqual({ code: 0, end: true });
    const printed = run.out.split(/^@@step \d+@@$/m).slice(1);
    steps.forEach((step, i) => {
      const lines = (printed[i] ?? '').replace('@@end@@', '').split('\n').map(masked);
      const expected = step.expected.map(masked);
      if (!inOrder(lines, expected)) {
        // The diff says which lines differ.
        expect({ step: step.commands, printed: lines.filter((l) => l && !l.startsWith('>')) }).toEqual({
          step: step.commands,
          printed: expected,
        });
      }
    });
  });

  it('names a service that ends underneath it, stops the rest and exits with code 1', async () => {
    // Prepare: a second npm start on the first one's broker (KAFKA_BROKERS) with a DynamoDB Local of its own.
    const ownDynamoPort = await freePort();
    const second = npmStart(
      ownServicesEnv({
        KAFKA_BROKERS: `127.0.0.1:${kafkaPort}`,
        LOCAL_DYNAMODB_PORT: String(ownDynamoPort),
      }),
    );
    await second.ready;
    const dynamo = descendants(second.pid).find((pid) => {
      const command = commandLine(pid);
      return command.startsWith('java ') && command.includes('DynamoDBLocal.jar');
    });
    expect(dynamo).toBeDefined();
    // Act: DynamoDB Local dies.
    process.kill(dynamo as number, 'SIGKILL');
    const code = await second.exited;
    // Assess
    expect(code).toBe(1);
    expect(second.lines).toContainEqual(
      expect.stringMatching(
        /^error: DynamoDB Local (exited with code \d+|killed by SIGKILL); stopping everything$/,
      ),
    );
    expect(descendants(second.pid)).toEqual([]);
    expect(await portOpen(ownDynamoPort)).toBe(false);
  });

  it("stops every child when npm's process gets SIGTERM, and frees the ports", async () => {
    // Prepare: npm start's whole tree (npm, sh, node, the watchdogs, Kafka and DynamoDB Local).
    const tree = descendants(service.pid);
    expect(tree.filter((pid) => commandLine(pid).startsWith('java ')).length).toBe(2);
    // Act
    process.kill(service.pid, 'SIGTERM');
    await service.exited;
    // Assess: no process of the tree is left, and both ports are free for the next start.
    await waitUntil('every child stopped', () => tree.every((pid) => !alive(pid)));
    await waitUntil(
      'ports free',
      async () => !(await portOpen(kafkaPort)) && !(await portOpen(dynamodbPort)),
    );
    expect(service.lines).toContain('stopped');
  });
});

describe('npm start with a port in use', () => {
  let occupied: Server;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    occupied = createServer();
    await new Promise<void>((done) => occupied.listen(port, '127.0.0.1', done));
  });

  afterAll(() => new Promise<void>((done) => occupied.close(() => done())));

  it('says which port, starts nothing and exits with code 1', async () => {
    // Prepare
    const kafkaPort = await freePort();
    // Act
    const run = npmStart(
      ownServicesEnv({ LOCAL_KAFKA_PORT: String(kafkaPort), LOCAL_DYNAMODB_PORT: String(port) }),
    );
    const code = await run.exited;
    // Assess: the error line is the first word on the matter; no service was started.
    expect(code).toBe(1);
    const errors = run.lines.filter((line) => line.startsWith(START_LINES.error));
    expect(errors).toEqual([
      `${START_LINES.error}ServiceStartError: port ${port} (DynamoDB Local) is in use: stop whatever listens there or set DYNAMODB_ENDPOINT to use it`,
    ]);
    expect(run.lines.some((line) => line.startsWith(START_LINES.ready) || / up in \d+ ms/.test(line))).toBe(
      false,
    );
    expect(await portOpen(kafkaPort)).toBe(false);
  });
});
