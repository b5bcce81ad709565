/**
 * @internal
 * `lineage stats <ckpt>`: tasks by stage, type and status, edges, shards,
 * bytes on disk, format version and pipeline fingerprint. One streaming pass
 * over the tasks; memory is the per-stage counters.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LineageStore } from '../store/lineage-store.js';
import type { TaskCounts } from '../store/task-counts.js';
import type { TaskType } from '../store/types.js';
import { EXIT_OK } from './cli-errors.js';
import { withStore, type CommandContext } from './command-context.js';
import { checkpointFields, checkpointHeader, fingerprintText, type CheckpointFields } from './describe-checkpoint.js';
import { STATUSES, type TaskStatus } from './task-status.js';
import { table } from './text-table.js';
import { stateCheckpointLines } from './describe-state-checkpoints.js';
import type { StageCheckpoints } from '../store/state-checkpoint-log.js';

export interface StatsOptions {
  readonly json?: boolean;
}

export interface CheckpointStats extends CheckpointFields {
  readonly tasks: number;
  readonly edges: number;
  readonly sources: { total: number; complete: number };
  readonly byStatus: Record<TaskStatus, number>;
  readonly byType: Record<TaskType, number>;
  /** Per stage that emitted the tasks; "(source)" for roots. */
  readonly byStage: Record<string, Record<TaskStatus, number> & { tasks: number }>;
  readonly shards: { writerId: string; tasks: number; runs: number; bytes: number }[];
  readonly bytesOnDisk: number;
  readonly files: number;
  /** Recorded checkpoints of stateful stages, newest first per stage and writer. */
  readonly stateCheckpoints: StageCheckpoints[];
}

const SOURCE_STAGE = '(source)';

export async function statsCommand(ctx: CommandContext, dir: string, options: StatsOptions): Promise<number> {
  return withStore(ctx, dir, async (store) => {
    const stats = collectStats(ctx, store);
    ctx.out.write(options.json ? JSON.stringify(stats, null, 2) + '\n' : renderStats(store, stats));
    await ctx.out.flush();
    return EXIT_OK;
  });
}

export function collectStats(ctx: CommandContext, store: LineageStore): CheckpointStats {
  const counts = store.mode === 'sources' ? sourceCounts(store) : store.countTasks((n) => ctx.progress.update(() => `stats: ${n} tasks read`));
  const byStage = new Map([...counts.byStage].map(([stage, row]) => [stage ?? SOURCE_STAGE, row] as const));
  const disk = diskUsage(store.dir);
  return {
    ...checkpointFields(store),
    tasks: counts.tasks,
    edges: counts.edges,
    sources: counts.sources,
    byStatus: counts.byStatus,
    byType: counts.byType,
    byStage: Object.fromEntries(orderStages(byStage, store.manifest.fingerprint?.map((s) => s.id) ?? [])),
    shards: store.shards.map((s) => ({
      writerId: s.writerId,
      // One shard's count is the one just made; several are counted each (the union above holds each task once).
      tasks: store.shards.length === 1 && store.mode === 'dag' ? counts.tasks : s.taskCount(),
      runs: entries(s.runs),
      bytes: diskUsage(s.dir).bytes,
    })),
    bytesOnDisk: disk.bytes,
    files: disk.files,
    stateCheckpoints: store.stateCheckpoints(),
  };
}

/** Source-counter mode keeps no per-task records: only the sources are counted. */
function sourceCounts(store: LineageStore): TaskCounts {
  const sources = { total: 0, complete: 0 };
  for (const s of store.sourceStates()) {
    sources.total++;
    if (s.state === 'done') sources.complete++;
  }
  const none = { completed: 0, filtered: 0, failed: 0, pending: 0 };
  return { tasks: 0, edges: 0, sources, byStatus: none, byType: { source: 0, middle: 0, leaf: 0, source_leaf: 0 }, byStage: new Map() };
}

function renderStats(store: LineageStore, s: CheckpointStats): string {
  const lines = checkpointHeader(store);
  lines.push(`fingerprint ${fingerprintText(s.fingerprint) ?? '(none recorded)'}`);
  lines.push(`created     ${s.createdAt}`, `updated     ${s.updatedAt}`);
  if (s.mode === 'sources') {
    lines.push(`sources     ${s.sources.total}: ${s.sources.complete} done (source-counter mode: no per-task records)`);
  } else {
    lines.push(`tasks       ${s.tasks}: ${STATUSES.map((k) => `${s.byStatus[k]} ${k}`).join(', ')}`);
    lines.push(`edges       ${s.edges}`);
    lines.push(`sources     ${s.sources.total}: ${s.sources.complete} complete, ${s.sources.total - s.sources.complete} incomplete`);
    lines.push(`by type     ${(Object.keys(s.byType) as TaskType[]).map((t) => `${s.byType[t]} ${t}`).join(', ')}`);
    lines.push('', 'by stage (the stage that emitted the task)');
    lines.push(
      ...table(
        ['stage', 'tasks', ...STATUSES],
        Object.entries(s.byStage).map(([stage, row]) => [stage, row.tasks, ...STATUSES.map((k) => row[k])]),
      ),
    );
  }
  lines.push(...stateCheckpointLines(s.stateCheckpoints));
  lines.push('', 'shards');
  lines.push(...table(['writer', 'tasks', 'runs', 'bytes'], s.shards.map((sh) => [sh.writerId, sh.tasks, sh.runs, sh.bytes])));
  lines.push('', `on disk     ${s.bytesOnDisk} bytes (${human(s.bytesOnDisk)}) in ${s.files} files`);
  return lines.join('\n') + '\n';
}

function orderStages<T>(byStage: Map<string, T>, fingerprint: readonly string[]): [string, T][] {
  const rank = (stage: string) => (stage === SOURCE_STAGE ? -1 : fingerprint.includes(stage) ? fingerprint.indexOf(stage) : fingerprint.length);
  return [...byStage].sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0]));
}

function entries(db: { getStats(): unknown }): number {
  return (db.getStats() as { entryCount?: number }).entryCount ?? 0;
}

function diskUsage(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        bytes += statSync(p).size;
        files++;
      }
    }
  };
  walk(dir);
  return { bytes, files };
}

export function human(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}
