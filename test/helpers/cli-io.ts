import { PassThrough, Readable } from 'node:stream';

/** The CLI's standard streams in memory: `stdinText` as its input, what it writes read back whole. */
export function captured(stdinText = '', env: Record<string, string> = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (chunk) => out.push(String(chunk)));
  stderr.on('data', (chunk) => err.push(String(chunk)));
  return {
    io: { stdin: Readable.from([stdinText]), stdout, stderr, env },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}
