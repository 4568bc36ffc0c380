/**
 * The `group-collector` command line: one small dispatch table of subcommands, each a module
 * exporting a {@link Command}. Add a subcommand by adding its entry to COMMANDS.
 */
import { readFileSync } from 'node:fs';
import { CommandError, UsageError } from './errors.ts';
import { inspectCommand } from './inspect.ts';
import { produceCommand } from './produce.ts';
import type { Command, Io } from './types.ts';

export { CommandError, UsageError } from './errors.ts';
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
    'group-collector help <command> (or <command> --help) shows the options of a command;',
    'group-collector --version prints the version.',
  ].join('\n');
}

/** The package's version: package.json is one level up from cli/ in the repository and from dist/ in the package. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Runs one command line (without the node and script arguments); resolves to the exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [first, ...tail] = argv;
  if (first === '--version' || first === '-v' || first === 'version') {
    io.stdout.write(`${version()}\n`);
    return 0;
  }
  // `help produce` is `produce --help`; `help` alone the list of commands.
  const [name, rest] = first === 'help' && tail[0] !== undefined ? [tail[0], ['--help']] : [first, tail];
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
    return error instanceof UsageError ? 2 : error instanceof CommandError ? error.exitCode : 1;
  }
}
