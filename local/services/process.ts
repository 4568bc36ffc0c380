import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const projectRoot = join(here, '..', '..');
const watchdog = join(here, 'watchdog.sh');

export class ServiceStartError extends Error {
  override name = 'ServiceStartError';
}

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The ports among `ports` on which something already accepts connections (checked at once). */
export async function portsInUse<T extends { port: number }>(ports: readonly T[]): Promise<T[]> {
  const open = await Promise.all(ports.map((p) => portOpen(p.port)));
  return ports.filter((_, i) => open[i]);
}

/** True when something accepts TCP connections on host:port. */
export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(500);
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host);
  });
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const started = Date.now();
  let lastError: unknown;
  while (Date.now() - started < timeoutMs) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new ServiceStartError(`${what} did not become ready within ${timeoutMs} ms`, { cause: lastError });
}

export interface ManagedProcess {
  readonly child: ChildProcess;
  readonly logFile: string;
  stop(): Promise<void>;
}

/** How a child process ended: `exited with code 1`, `killed by SIGKILL`. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exited with code ${code}`;
}

/**
 * Starts a long-running service under the watchdog, so that it dies with this
 * Node process even if this process is killed with SIGKILL. Output goes to a log file.
 * `onUnexpectedExit` is told when the service ends without `stop()` having been called.
 */
export function startManaged(
  command: string,
  args: string[],
  logFile: string,
  cwd?: string,
  onUnexpectedExit?: (how: string) => void,
): ManagedProcess {
  const log = createWriteStream(logFile, { flags: 'a' });
  // Its own process group: the service can be signalled as a whole (the watchdog and what it runs),
  // even when the watchdog itself was killed and left the service behind.
  const child = spawn('bash', [watchdog, String(process.pid), command, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // the group is gone already
    }
  };
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  let stopping = false;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      // Whatever the watchdog leaves in its group goes with it.
      signalGroup('SIGKILL');
      if (!stopping) onUnexpectedExit?.(describeExit(code, signal));
      resolve();
    }),
  );
  const stopOnExit = () => signalGroup('SIGTERM');
  process.once('exit', stopOnExit);
  return {
    child,
    logFile,
    async stop() {
      stopping = true;
      process.removeListener('exit', stopOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        signalGroup('SIGTERM');
        const timer = setTimeout(() => signalGroup('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      log.end();
    },
  };
}

/** Runs a command to completion; rejects with its output when it fails. */
export function run(command: string, args: string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(output);
      else
        reject(
          new ServiceStartError(`${command} ${args.join(' ')} exited with ${code}:\n${output.slice(-4000)}`),
        );
    });
  });
}
