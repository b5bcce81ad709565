/**
 * @internal
 * `lineage invalidate <ckpt> (--source <key> | --stage <id> | --udid <udid>)...`:
 * voids those tasks and everything downstream of them, so the next run redoes
 * them (see invalidateTasks); `--dry-run` says what it would void and changes
 * nothing. Prints one summary and the sources sent back to work.
 */
import { invalidateTasks, type InvalidateTasksSummary } from '../maintenance/invalidate-tasks.js';
import { EXIT_OK } from './cli-errors.js';
import { withStore, type CommandContext } from './command-context.js';
import { resolveUdid } from './resolve-task.js';

export interface InvalidateCommandOptions {
  readonly source?: string[];
  readonly stage?: string[];
  readonly udid?: string[];
  readonly dryRun?: boolean;
  readonly json?: boolean;
  readonly limit?: number;
}

export const DEFAULT_INVALIDATE_LIMIT = 20;

export async function invalidateCommand(ctx: CommandContext, dir: string, options: InvalidateCommandOptions): Promise<number> {
  // UDID prefixes resolve against the checkpoint as it is now, read-only, before anything is opened for writing.
  const udids = options.udid === undefined ? [] : await withStore(ctx, dir, async (store) => options.udid!.map((u) => resolveUdid(store, u, '--udid')));
  ctx.progress.update(() => (options.dryRun ? 'invalidate: finding what would be voided…' : 'invalidate: voiding, then recomputing completion…'));
  let summary: InvalidateTasksSummary;
  try {
    summary = await invalidateTasks(dir, { sources: options.source ?? [], stages: options.stage ?? [], udids }, { dryRun: options.dryRun === true });
  } finally {
    ctx.progress.done();
  }
  ctx.out.write(options.json ? JSON.stringify(summary, null, 2) + '\n' : render(dir, summary, options.limit ?? DEFAULT_INVALIDATE_LIMIT));
  await ctx.out.flush();
  return EXIT_OK;
}

function render(dir: string, s: InvalidateTasksSummary, limit: number): string {
  const verb = s.dryRun ? 'would void' : 'voided';
  const lines = [
    `${verb} ${s.removed + s.reopened} task(s) in ${s.sources.length} source(s) of ${dir}: ${s.removed} removed (downstream), ${s.reopened} to consume again` +
      (s.checkpointsDropped > 0 ? `; ${s.checkpointsDropped} stateful-stage checkpoint(s) dropped` : ''),
  ];
  for (const key of s.sources.slice(0, limit)) lines.push(`  ${key}`);
  if (s.sources.length > limit) lines.push(`  … and ${s.sources.length - limit} more (--limit, or --json for all)`);
  lines.push(s.dryRun ? '--dry-run: nothing was changed' : `the next run redoes them; see: lineage plan ${dir}`);
  return lines.join('\n') + '\n';
}
