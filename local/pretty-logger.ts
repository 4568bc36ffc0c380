import { Logger, type LogItem } from '@aws-lambda-powertools/logger';

const LEVEL_COLOR: Record<string, string> = {
  DEBUG: '\x1b[2m',
  INFO: '\x1b[36m',
  WARN: '\x1b[33m',
  ERROR: '\x1b[31m',
};
const OMIT = new Set(['level', 'message', 'timestamp', 'service', 'sampling_rate', 'fn', 'xray_trace_id']);

/**
 * The Powertools logger, printing one readable line per entry for a person at a
 * terminal (the local runtime); JSON stays the format everywhere else.
 */
export class PrettyLogger extends Logger {
  protected override printLog(_logLevel: number, log: LogItem): void {
    const attributes = log.getAttributes() as Record<string, unknown>;
    const level = String(attributes.level ?? 'INFO');
    const time = String(attributes.timestamp ?? new Date().toISOString()).slice(11, 23);
    const extras = Object.entries(attributes)
      .filter(([k, v]) => !OMIT.has(k) && v !== undefined)
      .map(
        ([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v instanceof Error ? v.message : v)}`,
      )
      .join(' ');
    const fn = attributes.fn ? `[${attributes.fn}] ` : '';
    const color = LEVEL_COLOR[level] ?? '';
    process.stdout.write(
      `${time} ${color}${level.padEnd(5)}\x1b[0m ${fn}${attributes.message} \x1b[2m${extras}\x1b[0m\n`,
    );
  }
}

/** A logger for the local runtime: pretty at a terminal, JSON when piped. */
export function localLogger(functionName: string): Logger {
  const options = { serviceName: 'group-collector', persistentKeys: { fn: functionName } };
  return process.stdout.isTTY ? new PrettyLogger(options) : new Logger(options);
}
