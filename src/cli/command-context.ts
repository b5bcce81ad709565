/**
 * @internal
 * What every `lineage` subcommand gets: the output streams, a progress line,
 * and how to open a checkpoint for reading (warnings, such as a checkpoint on
 * a network filesystem, go to stderr as one line each).
 */
import { LineageStore } from '../store/lineage-store.js';
import { Output, Progress, type CliIo } from './cli-io.js';

export interface CommandContext {
  readonly io: CliIo;
  /** Buffered stdout. */
  readonly out: Output;
  readonly progress: Progress;
  /** Writes one `lineage: warning: ...` line to stderr. */
  warn(message: string): void;
}

export function commandContext(io: CliIo): CommandContext {
  return {
    io,
    out: new Output(io.stdout),
    progress: new Progress(io.stderr, io.progress, io.progressDelayMs),
    warn: (message) => {
      io.stderr.write(`lineage: warning: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    },
  };
}

/** Opens a checkpoint read-only: nothing on disk changes, and a live writer is not disturbed. */
export function openForReading(ctx: CommandContext, dir: string): Promise<LineageStore> {
  return LineageStore.open(dir, { readOnly: true, onWarning: (m) => ctx.warn(m) });
}

/** Runs `use` on a read-only store and closes it, whatever happens. */
export async function withStore<T>(ctx: CommandContext, dir: string, use: (store: LineageStore) => Promise<T>): Promise<T> {
  const store = await openForReading(ctx, dir);
  try {
    return await use(store);
  } finally {
    ctx.progress.done();
    await store.close();
  }
}
