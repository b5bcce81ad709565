/**
 * @internal
 * `lineage merge <ckpt> [--into <dir>]`: compacts every writer shard into one
 * environment (after a multi-host run), in place or into a new directory.
 * The merge verifies itself against the union of the shards before it
 * replaces anything (see mergeCheckpoint); the command prints one summary line,
 * or the result as JSON.
 */
import { mergeCheckpoint, type MergeResult } from '../maintenance/merge-checkpoint.js';
import { EXIT_OK } from './cli-errors.js';
import type { CommandContext } from './command-context.js';

export interface MergeCommandOptions {
  readonly into?: string;
  readonly json?: boolean;
}

export async function mergeCommand(ctx: CommandContext, dir: string, options: MergeCommandOptions): Promise<number> {
  const started = Date.now();
  let result: MergeResult;
  try {
    result = await mergeCheckpoint(dir, {
      ...(options.into !== undefined ? { into: options.into } : {}),
      onProgress: (n) => ctx.progress.update(() => `merge: ${n} tasks replayed`),
    });
  } finally {
    ctx.progress.done();
  }
  const elapsedMs = Date.now() - started;
  ctx.out.write(options.json ? JSON.stringify({ ...result, elapsedMs }, null, 2) + '\n' : summaryLine(result, elapsedMs) + '\n');
  await ctx.out.flush();
  return EXIT_OK;
}

function summaryLine(r: MergeResult, elapsedMs: number): string {
  const where = r.into === r.from ? `${r.from} (in place)` : `${r.from} into ${r.into}`;
  return (
    `merged ${r.shardsMerged} ${r.shardsMerged === 1 ? 'shard' : 'shards'} of ${where}: ` +
    `${r.tasks} tasks, ${r.edges} edges, ${r.completed} complete; verified against the union, ${(elapsedMs / 1000).toFixed(1)} s`
  );
}
