/**
 * @internal
 * `lineage run <pipeline-module> --checkpoint <dir>`: runs a pipeline module's
 * Pipeline over its own `sources`, or over a `--sources` list, recording into
 * the checkpoint; a rerun skips what is complete. Prints a summary per stage
 * (or the RunReport as JSON) and exits 1 when tasks failed.
 *
 * The source list and the module are checked before the run starts, so a bad
 * list or module (exit 2) never touches the checkpoint.
 */
import { InterruptedError } from '../errors/interrupted-error.js';
import type { RunProgress, RunReport } from '../runner/run-report.js';
import { checkWriterId } from '../store/open-checkpoint.js';
import { EXIT_OK, EXIT_PROBLEM } from './cli-errors.js';
import type { CommandContext } from './command-context.js';
import { loadPipelineModule } from './load-pipeline-module.js';
import { openSourceList } from './read-source-list.js';
import { runSources } from './run-sources.js';
import { shortUdid } from './task-status.js';
import { table } from './text-table.js';

export interface RunCommandOptions {
  readonly checkpoint: string;
  readonly sources?: string;
  readonly writerId?: string;
  readonly concurrency?: number;
  readonly acceptChange?: boolean;
  /** `--no-check-outputs` makes it false. */
  readonly checkOutputs?: boolean;
  readonly json?: boolean;
}

/** Failures listed in the text summary (the JSON report holds up to 100). */
const LISTED_FAILURES = 10;

export async function runCommand(ctx: CommandContext, modulePath: string, options: RunCommandOptions): Promise<number> {
  // Before anything: opening a run may rewrite the checkpoint (a changed pipeline voids stages) before it opens the writer.
  if (options.writerId !== undefined) checkWriterId(options.writerId);
  const list = options.sources !== undefined ? await openSourceList(options.sources, ctx.io.stdin) : null;
  let report: RunReport;
  try {
    const mod = await loadPipelineModule(modulePath);
    const sources = await runSources(mod, list);
    report = await whileListening(() => mod.pipeline.run(sources, {
      checkpoint: options.checkpoint,
      ...(options.writerId !== undefined ? { writerId: options.writerId } : {}),
      ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
      ...(options.acceptChange ? { acceptChange: true } : {}),
      ...(options.checkOutputs === false ? { checkOutputs: false } : {}),
      ...(ctx.io.progress ? { onProgress: (p: RunProgress) => ctx.progress.update(() => progressText(p)), progressIntervalMs: 200 } : {}),
    }));
  } catch (err) {
    // The one line main() prints says how to resume with this very command.
    if (err instanceof InterruptedError) throw new InterruptedError(err.signal, err.saved, `run \`${resumeCommand(modulePath, options)}\` again`, { cause: err });
    throw err;
  } finally {
    ctx.progress.done();
    await list?.keys.return(undefined);
  }
  warnDuplicates(ctx, report);
  ctx.out.write(options.json ? JSON.stringify(report, null, 2) + '\n' : summary(report));
  await ctx.out.flush();
  return report.failed > 0 ? EXIT_PROBLEM : EXIT_OK;
}

/**
 * Runs `run` with listeners of the command's own on SIGINT/SIGTERM: the run
 * stops gracefully and rejects (LINEAGE_INTERRUPTED) instead of ending the
 * process, so the command prints its one line and exits 130/143 like any
 * other error. The listeners themselves do nothing.
 */
async function whileListening<T>(run: () => Promise<T>): Promise<T> {
  const listen = (): void => {};
  process.on('SIGINT', listen);
  process.on('SIGTERM', listen);
  try {
    return await run();
  } finally {
    process.off('SIGINT', listen);
    process.off('SIGTERM', listen);
  }
}

function resumeCommand(modulePath: string, o: RunCommandOptions): string {
  const words = ['lineage', 'run', modulePath, '--checkpoint', o.checkpoint];
  if (o.sources !== undefined) words.push('--sources', o.sources);
  if (o.writerId !== undefined) words.push('--writer-id', o.writerId);
  if (o.concurrency !== undefined) words.push('--concurrency', String(o.concurrency));
  return words.map((w) => (/^[\w./=:@%+-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Keys named in warnings; the JSON report lists up to 100. */
const LISTED_DUPLICATES = 10;

/** One warning line per source key given more than once (the first few), and how many more. */
function warnDuplicates(ctx: CommandContext, r: RunReport): void {
  if (r.duplicates === 0) return;
  const listed = r.duplicateKeys.slice(0, LISTED_DUPLICATES);
  for (const key of listed) ctx.warn(`source key ${JSON.stringify(key)} was given more than once in this run; it was processed once.`);
  const more = r.duplicateKeys.length - listed.length;
  if (more > 0 || r.duplicateKeys.length >= 100) {
    ctx.warn(`${r.duplicates} duplicate source keys in all (${more}${r.duplicateKeys.length >= 100 ? ' or more' : ''} more keys not listed; --json lists up to 100).`);
  }
}

function progressText(p: RunProgress): string {
  const stages = p.stages.map((s) => `${s.stage} ${s.processed}`).join(', ');
  const failed = p.stages.reduce((n, s) => n + s.failed, 0);
  return `run: ${p.sourcesRead} sources read, ${p.sourcesSkipped} skipped; processed ${stages}${failed > 0 ? `; ${failed} failed` : ''}; ${seconds(p.elapsedMs)}`;
}

function summary(r: RunReport): string {
  const lines: string[] = [];
  lines.push(`checkpoint  ${r.checkpoint ?? '(none)'}${r.checkpoint !== null ? ` (run ${r.run})` : ''}`);
  const duplicates = r.duplicates > 0 ? `, ${r.duplicates} duplicate ${r.duplicates === 1 ? 'key' : 'keys'} (processed once)` : '';
  const changed = r.inputsChanged > 0 ? `, ${r.inputsChanged} with a changed input (voided and run again)` : '';
  lines.push(`sources     ${r.sources.read} read, ${r.sources.skipped} skipped (already complete)${changed}${duplicates}`);
  if (r.outputsMissing > 0) lines.push(`outputs     ${r.outputsMissing} task(s) had an output gone: voided with what they led to, and run again`);
  lines.push('');
  lines.push(
    ...table(
      ['stage', 'processed', 'emitted', 'filtered', 'failed', 'pruned'],
      r.stages.map((s) => [s.stage, s.processed, s.emitted, s.filtered, s.failed, s.pruned]),
    ),
  );
  lines.push('');
  if (r.failed > 0) {
    const listed = r.failures.slice(0, LISTED_FAILURES);
    lines.push(`failed      ${r.failed} ${r.failed === 1 ? 'task' : 'tasks'}${r.failed > listed.length ? ` (first ${listed.length} listed; --json lists up to 100)` : ''}:`);
    for (const f of listed) lines.push(`  ${f.stage}  ${shortUdid(f.udid)}  [${f.sourceKey}]  ${f.error.replace(/\s*\n\s*/g, ' ')}`);
  }
  lines.push(`elapsed     ${seconds(r.elapsedMs)}`);
  lines.push('');
  if (r.failed > 0) {
    const where = r.checkpoint ?? '<checkpoint>';
    lines.push(`${r.failed} ${r.failed === 1 ? 'task' : 'tasks'} failed. Fix the cause and run again: completed work is skipped. See them with \`lineage inspect ${where} --status failed\`.`);
  } else {
    lines.push('ok: no task failed.');
  }
  return lines.join('\n') + '\n';
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
