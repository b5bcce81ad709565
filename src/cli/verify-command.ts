/**
 * @internal
 * `lineage verify <ckpt> [--repair]`: checks the checkpoint's invariants and
 * names the bad UDIDs (exit 1 when any is broken). `--repair` recomputes the
 * derived state from the edges, then verifies again; a checkpoint that is
 * already fine is not written to.
 */
import { repairCheckpoint, type RepairSummary } from '../maintenance/repair.js';
import { VERIFY_CHECKS, verifyCheckpoint, type VerifyReport } from '../completion/verify.js';
import type { LineageStore } from '../store/lineage-store.js';
import { EXIT_OK, EXIT_PROBLEM } from './cli-errors.js';
import { withStore, type CommandContext } from './command-context.js';
import { checkpointHeader } from './describe-checkpoint.js';

export interface VerifyCommandOptions {
  readonly repair?: boolean;
  readonly json?: boolean;
  readonly limit?: number;
}

/** Problems listed per check in the text report when --limit is not given. */
export const DEFAULT_VERIFY_LIMIT = 10;

export async function verifyCommand(ctx: CommandContext, dir: string, options: VerifyCommandOptions): Promise<number> {
  const check = () =>
    withStore(ctx, dir, async (store) => {
      const report =
        store.mode === 'dag'
          ? verifyCheckpoint(store, { onProgress: (phase, rows) => ctx.progress.update(() => `verify: ${phase}: ${rows} rows`) })
          : null;
      return { report, header: checkpointHeader(store), store };
    });
  const first = await check();
  let repair: RepairSummary | null = null;
  let final = first;
  if (options.repair && first.report && !first.report.ok && repairable(first.report)) {
    repair = await repairCheckpoint(dir);
    final = await check();
  }
  const ok = final.report?.ok ?? true;
  if (options.json) {
    ctx.out.write(JSON.stringify({ checkpoint: first.store.dir, ok, ...(repair ? { before: first.report?.counts, repair } : {}), ...final.report }, null, 2) + '\n');
  } else {
    ctx.out.write(renderText(final.header, first.store, first.report, final.report, repair, options));
  }
  await ctx.out.flush();
  return ok ? EXIT_OK : EXIT_PROBLEM;
}

function repairable(report: VerifyReport): boolean {
  return VERIFY_CHECKS.some((c) => c.repairable && report.counts[c.id] > 0);
}

function renderText(
  header: string[],
  store: LineageStore,
  before: VerifyReport | null,
  after: VerifyReport | null,
  repair: RepairSummary | null,
  options: VerifyCommandOptions,
): string {
  const lines = [...header];
  if (!after || !before) {
    lines.push('', 'ok: a source-counter checkpoint holds no edges or task rows; there is nothing to verify.');
    return lines.join('\n') + '\n';
  }
  lines.push(`checked     ${before.tasks} tasks, ${before.edges} edges`);
  if (repair) {
    lines.push('', 'before repair:');
    for (const c of VERIFY_CHECKS) if (before.counts[c.id] > 0) lines.push(`  ✗ ${c.title}: ${plural(before.counts[c.id], 'problem')}`);
    lines.push(
      '',
      `repaired    ${plural(repair.edgesRestored, 'edge')} restored, ${plural(repair.taskTypesFixed, 'task_type row')} fixed, ` +
        `${plural(repair.completedMarked, 'task')} marked complete, ${plural(repair.completedCleared, 'completed flag')} cleared`,
      '',
      'after repair:',
    );
  } else {
    lines.push('');
  }
  const limit = options.limit ?? DEFAULT_VERIFY_LIMIT;
  for (const c of VERIFY_CHECKS) {
    const n = after.counts[c.id];
    if (n === 0) {
      lines.push(`✓ ${c.title}`);
      continue;
    }
    lines.push(`✗ ${c.title}: ${plural(n, 'problem')}`);
    const listed = after.problems.filter((p) => p.check === c.id);
    for (const p of listed.slice(0, limit)) lines.push(`    ${p.udid}${p.writerId !== null && after.shards.length > 1 ? ` [${p.writerId}]` : ''}  ${p.message}`);
    if (n > Math.min(limit, listed.length)) lines.push(`    … and ${n - Math.min(limit, listed.length)} more (--limit, or --json for the list)`);
  }
  if (after.crossShardCompleted > 0) {
    lines.push(`note: ${plural(after.crossShardCompleted, 'task')} complete only across shards (found by the batch pass at open; \`--repair\` records them)`);
  }
  lines.push('');
  const total = Object.values(after.counts).reduce((a, b) => a + b, 0);
  if (total === 0) {
    lines.push(repair ? 'ok: the checkpoint is consistent again.' : 'ok: no problems found.');
  } else {
    const fixable = VERIFY_CHECKS.filter((c) => c.repairable).reduce((a, c) => a + after.counts[c.id], 0);
    lines.push(
      `${plural(total, 'problem')} found.` +
        (fixable > 0 && !repair ? ` \`lineage verify --repair ${store.dir}\` recomputes task_type and completed from the edges (${fixable} of them).` : '') +
        (total > fixable ? ' Index, outcome and cycle problems cannot be derived again: restore the checkpoint from a backup, or move the affected writer shard aside (keeping it) to redo its work.' : ''),
    );
  }
  return lines.join('\n') + '\n';
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
