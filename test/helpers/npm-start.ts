/** `npm start` as a user runs it, on ports of the test's choosing: its lines, its exit, its process tree. */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { START_LINES } from '#local/settings.ts';

export const ROOT = resolve(import.meta.dirname, '..', '..');

export interface Started {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every line so far, standard output and error. */
  readonly lines: string[];
  /** Resolves with the `ready: ` line; rejects when the process ends first (with its lines). */
  readonly ready: Promise<string>;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
}

/** The environment of the test run without the services it may point to (npm start starts its own). */
export function ownServicesEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const name of ['KAFKA_BROKERS', 'DYNAMODB_ENDPOINT', 'AWS_ENDPOINT_URL']) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

/** Runs `npm start` (`npm` with `args`, default `['start']`) in the repository with `env`. */
export function npmStart(env: NodeJS.ProcessEnv, args: string[] = ['start']): Started {
  const child = spawn('npm', args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let onLine: (line: string) => void = () => {};
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream.on('data', (chunk: Buffer) => {
      const parts = (rest + chunk.toString('utf8')).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        onLine(line);
      }
    });
  }
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const ready = new Promise<string>((done, fail) => {
    onLine = (line) => {
      if (line.startsWith(START_LINES.ready)) done(line);
    };
    void exited.then((code) =>
      fail(new Error(`npm start exited (${code}) before ready:\n${lines.join('\n')}`)),
    );
  });
  ready.catch(() => {});
  if (child.pid === undefined) throw new Error('npm did not start');
  return { child, pid: child.pid, lines, ready, exited };
}

/** Every process below `pid` (children, their children…), from /proc. */
export function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of parentOf) {
      if (ppid === parent) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

/** The command line of a process ('' when it is gone). */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
