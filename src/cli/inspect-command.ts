/**
 * @internal
 * `lineage inspect <ckpt>`: the DAG as a summary and a tree per source, or as
 * JSON, NDJSON (streamed, constant memory), DOT or Mermaid.
 */
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import type { LineageStore } from '../store/lineage-store.js';
import type { TaskInfo } from '../store/types.js';
import { EXIT_OK } from './cli-errors.js';
import { withStore, type CommandContext } from './command-context.js';
import { toDot, toMermaid } from './render-graph.js';
import { drawTree, taskLine, type TreeBudget } from './render-tree.js';
import { selectTasks, selectedTasks, type Selection, type TaskFilter } from './select-tasks.js';
import { checkpointFields, checkpointHeader, fingerprintText } from './describe-checkpoint.js';
import { LEGEND, STATUSES, TaskLineWriter, statusOf, taskRecord, type TaskStatus } from './task-status.js';
import { stateCheckpointLines } from './describe-state-checkpoints.js';

export const INSPECT_FORMATS = ['text', 'json', 'ndjson', 'dot', 'mermaid'] as const;
export type InspectFormat = (typeof INSPECT_FORMATS)[number];

export interface InspectOptions extends TaskFilter {
  readonly format: InspectFormat;
  readonly depth?: number;
  readonly limit?: number;
}

/** Tasks the readable tree shows when --limit is not given. */
export const DEFAULT_TREE_LIMIT = 100;

export async function inspectCommand(ctx: CommandContext, dir: string, options: InspectOptions): Promise<number> {
  return withStore(ctx, dir, async (store) => {
    if (store.mode === 'sources') return inspectSourcesMode(ctx, store, options);
    const selection = selectTasks(store, options);
    switch (options.format) {
      case 'ndjson':
        return streamNdjson(ctx, store, selection, options);
      case 'json':
        return streamJson(ctx, store, selection, options.limit);
      case 'dot':
      case 'mermaid': {
        const tasks = collect(ctx, store, selection, options.limit);
        (options.format === 'dot' ? toDot : toMermaid)(tasks, (text) => ctx.out.write(text));
        await ctx.out.flush();
        return EXIT_OK;
      }
      default:
        return text(ctx, store, selection, options);
    }
  });
}

async function streamNdjson(ctx: CommandContext, store: LineageStore, selection: Selection, options: InspectOptions): Promise<number> {
  const limit = options.limit ?? Infinity;
  // The whole checkpoint: the store reads it from its pages when it can, not through lmdb-js.
  const whole = selection.scope === null && options.status === undefined && options.stage === undefined;
  if (whole) {
    const sink = {
      get closed() {
        return ctx.out.closed;
      },
      writeChunk: (chunk: Buffer) => ctx.out.writeChunk(chunk),
      progress: (n: number) => ctx.progress.update(() => `inspect: ${n} tasks written`),
    };
    const written = await store.writeTasksNdjson(sink, limit);
    if (written !== null) {
      await ctx.out.flush();
      return EXIT_OK;
    }
  }
  let n = 0;
  const lines = new TaskLineWriter();
  for (const task of selectedTasks(store, selection)) {
    if (n >= limit || ctx.out.closed) break;
    ctx.out.write(lines.line(task) + '\n');
    if ((++n & 1023) === 0) {
      ctx.progress.update(() => `inspect: ${n} tasks written`);
      await ctx.out.maybeFlush();
    }
  }
  await ctx.out.flush();
  return EXIT_OK;
}

/** One JSON document, written as it is produced: `{ "checkpoint": {...}, "tasks": [...] }`. */
async function streamJson(ctx: CommandContext, store: LineageStore, selection: Selection, limit = Infinity): Promise<number> {
  const head = { checkpoint: checkpointJson(store), filter: filterJson(selection) };
  ctx.out.write(JSON.stringify(head, null, 2).replace(/\n}$/, ',\n  "tasks": ['));
  let n = 0;
  for (const task of selectedTasks(store, selection)) {
    if (n >= limit || ctx.out.closed) break;
    ctx.out.write(`${n === 0 ? '' : ','}\n    ${JSON.stringify(taskRecord(task))}`);
    if ((++n & 1023) === 0) {
      ctx.progress.update(() => `inspect: ${n} tasks written`);
      await ctx.out.maybeFlush();
    }
  }
  ctx.out.write(`${n === 0 ? '' : '\n  '}]\n}\n`);
  await ctx.out.flush();
  return EXIT_OK;
}

function collect(ctx: CommandContext, store: LineageStore, selection: Selection, limit = Infinity): TaskInfo[] {
  const tasks: TaskInfo[] = [];
  for (const task of selectedTasks(store, selection)) {
    if (tasks.length >= limit) break;
    tasks.push(task);
    if ((tasks.length & 1023) === 0) ctx.progress.update(() => `inspect: ${tasks.length} tasks read`);
  }
  return tasks;
}

async function text(ctx: CommandContext, store: LineageStore, selection: Selection, options: InspectOptions): Promise<number> {
  const { out } = ctx;
  const counts = countStatuses(ctx, store, selection);
  for (const line of checkpointHeader(store)) out.write(line + '\n');
  const fingerprint = fingerprintText(store.manifest.fingerprint);
  if (fingerprint) out.write(`stages      ${fingerprint}\n`);
  const filter = describeFilter(options);
  if (filter) out.write(`filter      ${filter}\n`);
  out.write(`tasks       ${counts.total}${counts.total > 0 ? `: ${STATUSES.map((s) => `${counts.byStatus[s]} ${s}`).join(', ')}` : ''}\n`);
  out.write(`sources     ${counts.sources}${counts.sources > 0 ? `: ${counts.sourcesDone} complete, ${counts.sources - counts.sourcesDone} incomplete` : ''}\n`);
  out.write(`legend      ${LEGEND}\n`);
  for (const line of stateCheckpointLines(store.stateCheckpoints())) out.write(line + '\n');

  const limit = options.limit ?? DEFAULT_TREE_LIMIT;
  const budget: TreeBudget = { left: limit, drawn: new Set() };
  const emit = (line: string) => out.write(line + '\n');
  let complete = true;
  if (options.status !== undefined || options.stage !== undefined) {
    // A status or stage filter cuts the trees apart: list the matching tasks instead.
    out.write('\n');
    for (const task of selectedTasks(store, selection)) {
      if (budget.left-- <= 0) {
        complete = false;
        break;
      }
      emit(`${taskLine(task)}${task.stage !== null && task.sourceKey ? `  [${task.sourceKey}]` : ''}`);
      await out.maybeFlush();
    }
  } else if (selection.focus !== null) {
    const ancestors = [...store.ancestors(selection.focus)];
    if (ancestors.length > 0) {
      out.write(`\nancestors of ${selection.focus}, nearest first:\n`);
      for (const udid of ancestors) {
        const task = store.get(udid);
        if (task) emit(`  ${taskLine(task)}`);
      }
    }
    out.write(`\ntask ${selection.focus} and its descendants:\n`);
    complete = drawTree(store, selection.focus, options.depth ?? Infinity, budget, emit);
  } else {
    const roots = selection.sourceRoot !== null ? [selection.sourceRoot] : sourceRoots(store);
    for (const root of roots) {
      out.write('\n');
      if (!drawTree(store, root, options.depth ?? Infinity, budget, emit)) {
        complete = false;
        break;
      }
      await out.maybeFlush();
    }
  }
  if (!complete) out.write(`… stopped after ${limit} lines (--limit ${limit}); narrow with --source, --udid, --status, --depth, or raise --limit\n`);
  await out.flush();
  return EXIT_OK;
}

function* sourceRoots(store: LineageStore): Generator<string> {
  for (const s of store.sources()) yield s.udid;
}

interface Counts {
  total: number;
  byStatus: Record<TaskStatus, number>;
  sources: number;
  sourcesDone: number;
}

function countStatuses(ctx: CommandContext, store: LineageStore, selection: Selection): Counts {
  const counts: Counts = { total: 0, byStatus: { completed: 0, filtered: 0, failed: 0, pending: 0 }, sources: 0, sourcesDone: 0 };
  for (const task of selectedTasks(store, selection)) {
    const status = statusOf(task);
    counts.total++;
    counts.byStatus[status]++;
    if (task.stage === null) {
      counts.sources++;
      if (status === 'completed' || status === 'filtered') counts.sourcesDone++;
    }
    if ((counts.total & 1023) === 0) ctx.progress.update(() => `inspect: ${counts.total} tasks counted`);
  }
  return counts;
}

function describeFilter(o: InspectOptions): string {
  const parts: string[] = [];
  if (o.source !== undefined) parts.push(`--source ${o.source}`);
  if (o.udid !== undefined) parts.push(`--udid ${o.udid}`);
  if (o.status !== undefined) parts.push(`--status ${o.status}`);
  if (o.stage !== undefined) parts.push(`--stage ${o.stage}`);
  return parts.join(' ');
}

function checkpointJson(store: LineageStore): Record<string, unknown> {
  return {
    ...checkpointFields(store),
    shards: store.shards.map((s) => s.writerId),
    stateCheckpoints: store.stateCheckpoints(),
  };
}

function filterJson(selection: Selection): Record<string, unknown> | null {
  if (selection.focus === null && selection.sourceRoot === null) return null;
  return { udid: selection.focus, sourceRoot: selection.sourceRoot };
}

/** Source-counter checkpoints hold no tasks, only a state per source. */
async function inspectSourcesMode(ctx: CommandContext, store: LineageStore, options: InspectOptions): Promise<number> {
  if (options.format === 'dot' || options.format === 'mermaid' || options.udid !== undefined || options.stage !== undefined) {
    throw new LineageError(
      ErrorCodes.MODE_MISMATCH,
      `${store.dir} is a source-counter checkpoint (mode "sources"): it records one state per source and no tasks, so ` +
        '--format dot/mermaid, --udid and --stage do not apply. Use the text, json or ndjson format.',
    );
  }
  const { out } = ctx;
  const states = [...store.sourceStates()].filter((s) => options.source === undefined || s.sourceKey === options.source);
  if (options.format === 'json' || options.format === 'ndjson') {
    if (options.format === 'json') out.write(JSON.stringify({ checkpoint: checkpointJson(store), sources: states }, null, 2) + '\n');
    else for (const s of states) out.write(JSON.stringify(s) + '\n');
    await out.flush();
    return EXIT_OK;
  }
  for (const line of checkpointHeader(store)) out.write(line + '\n');
  const done = states.filter((s) => s.state === 'done').length;
  out.write(`sources     ${states.length}: ${done} done, ${states.length - done} not done (source-counter mode: no per-task records)\n\n`);
  const limit = options.limit ?? DEFAULT_TREE_LIMIT;
  for (const s of states.slice(0, limit)) {
    const mark = s.state === 'done' ? '✓' : s.state === 'failed' ? '✗' : '○';
    out.write(`${mark} ${s.sourceKey}  ${s.state}${s.stage ? ` in ${s.stage}` : ''}\n`);
  }
  if (states.length > limit) out.write(`… ${states.length - limit} more sources (--limit ${limit})\n`);
  await out.flush();
  return EXIT_OK;
}
