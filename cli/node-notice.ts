/**
 * The AWS SDK for JavaScript v3 warns once per process, with `process.emitWarning`, that its
 * releases will need a newer Node.js (`NodeVersionSupportWarning`, nine lines). The command line
 * and `npm start` show it as one short line instead; every other warning passes through unchanged.
 * Importing this module installs the filter on the process (`tsx --import ./cli/node-notice.ts …`).
 */

/** The part of `process` the filter replaces and writes to. */
export interface WarningTarget {
  emitWarning: (warning: string | Error, ...rest: never[]) => void;
  readonly version: string;
  readonly stderr: { write(text: string): unknown };
}

const SDK_NOTICE = 'NodeVersionSupportWarning';

/** The one line shown instead of the SDK's notice. */
export function nodeNoticeLine(sdkText: string, nodeVersion: string): string {
  const needed = /node\s*>=\s*(\d+)/i.exec(sdkText)?.[1] ?? '22';
  const when = /published after ([^\n]+?)\s*\n?\s*will require/i.exec(sdkText)?.[1]?.replace(/\s+/g, ' ');
  return `note: AWS SDK releases${when ? ` published after ${when}` : ''} need Node.js ${needed} or newer; this is Node.js ${nodeVersion} (README, "Node.js support")\n`;
}

/** Replaces the SDK's notice with {@link nodeNoticeLine}, once; returns a function that undoes it. */
export function shortenNodeNotice(target: WarningTarget): () => void {
  const original = target.emitWarning;
  let shown = false;
  const filtered = (warning: string | Error, ...rest: never[]): void => {
    const text = typeof warning === 'string' ? warning : warning.message;
    const name = typeof warning === 'string' ? '' : warning.name;
    if (text.startsWith(SDK_NOTICE) || name === SDK_NOTICE) {
      if (!shown) target.stderr.write(nodeNoticeLine(text, target.version));
      shown = true;
      return;
    }
    original.call(target, warning, ...rest);
  };
  target.emitWarning = filtered;
  return () => {
    target.emitWarning = original;
  };
}

shortenNodeNotice(process as unknown as WarningTarget);
