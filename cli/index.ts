/**
 * The `group-collector` command line: one small dispatch table of subcommands, each a module
 * exporting a {@link Command}. Add a subcommand by adding its entry to COMMANDS.
 */
import { UsageError } from './errors.ts';
import { inspectCommand } from './inspect.ts';
import { produceCommand } from './produce.ts';
import type { Command, Io } from './types.ts';

export { UsageError } from './errors.ts';
export type { Command, Io } from './types.ts';

export const COMMANDS: Readonly<Record<string, Command>> = {
  produce: produceCommand,
  inspect: inspectCommand,
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  return [
    'usage: group-collector <command> [options]',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`),
    '',
    'group-collector <command> --help shows the options of a command.',
  ].join('\n');
}

/** Runs one command line (without the node and script arguments); resolves to the exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr.write(`group-collector: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`group-collector ${name}: ${message}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}
