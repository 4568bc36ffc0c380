import type { Readable, Writable } from 'node:stream';

/** Where a command reads and writes: the process's streams, or a test's. */
export interface Io {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface Command {
  /** One line for the command list. */
  readonly summary: string;
  /** Resolves to the exit code; throws UsageError for a wrong command line. */
  run(args: readonly string[], io: Io): Promise<number>;
}
