import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOCAL } from '#local/settings.ts';
import {
  type ManagedProcess,
  portOpen,
  projectRoot,
  run,
  ServiceStartError,
  startManaged,
  waitFor,
} from './process.ts';

/**
 * A single Apache Kafka node in KRaft mode (combined broker and controller),
 * run from the official jars that Maven resolves from Maven Central into a
 * git-ignored cache (.cache/kafka-<version>/libs) on first use.
 */
export interface KafkaNode {
  readonly brokers: string[];
  readonly port: number;
  readonly dataDir: string;
  stop(): Promise<void>;
  /** Starts the stopped node again on the same port with the same data (a broker restart). */
  restart(): Promise<void>;
}

export interface KafkaOptions {
  port: number;
  controllerPort: number;
  dataDir: string;
  version?: string;
  /** Host written into advertised.listeners. */
  host?: string;
  /** Told when the broker ends without being stopped (`exited with code 1`, `killed by SIGKILL`). */
  onExit?: (how: string) => void;
  /** Serve clients on a SASL_SSL listener (SCRAM-SHA-512 over TLS, with ACLs) instead of plain text. */
  secured?: SecuredListener;
}

/**
 * A broker that requires what a production cluster does: TLS (a PKCS#12 keystore, see
 * secured-kafka.ts), SCRAM-SHA-512 users created when the storage is formatted, and Kafka ACLs
 * (StandardAuthorizer: a user may do only what an ACL allows; super users anything).
 * Broker-internal traffic stays on a loopback plain-text listener of its own.
 */
export interface SecuredListener {
  readonly keystore: string;
  readonly keystorePassword: string;
  readonly users: readonly { readonly name: string; readonly password: string }[];
  /** Users the authorizer lets do anything (besides the broker itself). */
  readonly superUsers: readonly string[];
  /** Port of the broker-internal plain-text listener. */
  readonly internalPort: number;
}

/** Resolves the broker's jars with Maven (once) and returns the classpath folder. */
export async function ensureKafkaJars(version: string = LOCAL.kafkaVersion): Promise<string> {
  const libs = join(projectRoot, '.cache', `kafka-${version}`, 'libs');
  if (existsSync(libs) && readdirSync(libs).some((f) => f.startsWith('kafka_2.13-'))) return libs;
  // Resolve into a private folder, then rename: concurrent first runs never see half a classpath.
  const tmp = `${libs}.tmp-${process.pid}-${randomUUID().slice(0, 8)}`;
  mkdirSync(tmp, { recursive: true });
  try {
    await run(
      'mvn',
      [
        '-q',
        '-B',
        '-f',
        join(projectRoot, 'local', 'kafka', 'pom.xml'),
        `-Dkafka.version=${version}`,
        'dependency:copy-dependencies',
        '-DincludeScope=runtime',
        `-DoutputDirectory=${tmp}`,
      ],
      projectRoot,
    );
    try {
      renameSync(tmp, libs);
    } catch (error) {
      if (!existsSync(libs)) throw error;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return libs;
}

const LOG4J2 = `status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = \${sys:kafka.logs.dir}/broker.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
`;

export async function startKafka(options: KafkaOptions): Promise<KafkaNode> {
  const { port, controllerPort, dataDir } = options;
  const host = options.host ?? '127.0.0.1';
  if (await portOpen(port)) {
    throw new ServiceStartError(
      `port ${port} is in use; stop whatever listens there or set KAFKA_BROKERS to use it`,
    );
  }
  const libs = await ensureKafkaJars(options.version);
  const classpath = `${libs}/*`;
  mkdirSync(dataDir, { recursive: true });
  const properties = join(dataDir, 'server.properties');
  const { secured } = options;
  writeFileSync(
    properties,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      ...(secured
        ? securedListenerProperties(port, controllerPort, host, secured)
        : [
            `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
            `advertised.listeners=PLAINTEXT://${host}:${port}`,
            'controller.listener.names=CONTROLLER',
            'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
            'inter.broker.listener.name=PLAINTEXT',
          ]),
      `log.dirs=${join(dataDir, 'data')}`,
      'num.partitions=3',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=10',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=true',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dataDir, 'log4j2.properties'), LOG4J2);
  const jvm = [
    '-Xms256m',
    '-Xmx768m',
    '-XX:+UseG1GC',
    '-XX:TieredStopAtLevel=1',
    `-Dkafka.logs.dir=${dataDir}`,
    `-Dlog4j2.configurationFile=${join(dataDir, 'log4j2.properties')}`,
    '-cp',
    classpath,
  ];
  // SCRAM credentials live in the cluster metadata: written when the storage is formatted.
  const scram = (secured?.users ?? []).flatMap((u) => [
    '--add-scram',
    `SCRAM-SHA-512=[name=${u.name},password=${u.password}]`,
  ]);
  await run('java', [
    ...jvm,
    'kafka.tools.StorageTool',
    'format',
    '-t',
    clusterId(),
    '-c',
    properties,
    ...scram,
  ]);
  const launch = async (): Promise<ManagedProcess> => {
    const proc = startManaged(
      'java',
      [...jvm, 'kafka.Kafka', properties],
      join(dataDir, 'stdout.log'),
      undefined,
      options.onExit,
    );
    try {
      await waitFor(`Kafka on port ${port}`, () => portOpen(port), 60_000);
    } catch (error) {
      await proc.stop();
      throw error;
    }
    return proc;
  };
  let proc: ManagedProcess = await launch();
  return {
    brokers: [`${host}:${port}`],
    port,
    dataDir,
    stop: () => proc.stop(),
    async restart() {
      await proc.stop();
      proc = await launch();
    },
  };
}

function securedListenerProperties(
  port: number,
  controllerPort: number,
  host: string,
  secured: SecuredListener,
): string[] {
  const internal = `INTERNAL://127.0.0.1:${secured.internalPort}`;
  return [
    `listeners=SASL_SSL://127.0.0.1:${port},${internal},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=SASL_SSL://${host}:${port},${internal}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=SASL_SSL:SASL_SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=INTERNAL',
    'sasl.enabled.mechanisms=SCRAM-SHA-512',
    'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'ssl.keystore.type=PKCS12',
    `ssl.keystore.location=${secured.keystore}`,
    `ssl.keystore.password=${secured.keystorePassword}`,
    `ssl.key.password=${secured.keystorePassword}`,
    'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    // The broker and the controller reach themselves over plain text, as ANONYMOUS.
    `super.users=${['ANONYMOUS', ...secured.superUsers].map((u) => `User:${u}`).join(';')}`,
  ];
}

/** A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (22 characters). */
function clusterId(): string {
  // An id starting with '-' would be read as an option by kafka-storage.
  for (;;) {
    const id = Buffer.from(randomUUID().replaceAll('-', ''), 'hex').toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}
