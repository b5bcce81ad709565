/**
 * @internal
 * The tasks `lineage inspect` shows, as a stream: everything, or one source's
 * subtree (`--source`), or one task's ancestors and descendants (`--udid`),
 * narrowed by `--status` and `--stage`. Without `--source`/`--udid` nothing is
 * held in memory; with them, only the UDIDs of that part of the DAG.
 */
import type { LineageStore } from '../store/lineage-store.js';
import type { TaskInfo } from '../store/types.js';
import { resolveSource, resolveUdid } from './resolve-task.js';
import { statusOf, type TaskStatus } from './task-status.js';

export interface TaskFilter {
  readonly source?: string;
  readonly udid?: string;
  readonly status?: TaskStatus;
  readonly stage?: string;
}

export interface Selection {
  /** Tasks in scope, or null for the whole checkpoint. */
  readonly scope: ReadonlySet<string> | null;
  /** The task `--udid` named, resolved to its full UDID. */
  readonly focus: string | null;
  /** The root `--source` named. */
  readonly sourceRoot: string | null;
  matches(task: TaskInfo): boolean;
}

export function selectTasks(store: LineageStore, filter: TaskFilter): Selection {
  let scope: Set<string> | null = null;
  let focus: string | null = null;
  let sourceRoot: string | null = null;
  if (filter.source !== undefined) {
    sourceRoot = resolveSource(store, filter.source);
    scope = new Set([sourceRoot, ...store.descendants(sourceRoot)]);
  }
  if (filter.udid !== undefined) {
    focus = resolveUdid(store, filter.udid, '--udid');
    const lineage = new Set([focus, ...store.ancestors(focus), ...store.descendants(focus)]);
    scope = scope === null ? lineage : new Set([...lineage].filter((u) => scope!.has(u)));
  }
  const { status, stage } = filter;
  return {
    scope,
    focus,
    sourceRoot,
    matches: (task) => (status === undefined || statusOf(task) === status) && (stage === undefined || task.stage === stage),
  };
}

/** Streams the selected tasks. */
export function* selectedTasks(store: LineageStore, selection: Selection): Generator<TaskInfo> {
  if (selection.scope === null) {
    for (const task of store.tasks()) if (selection.matches(task)) yield task;
    return;
  }
  for (const udid of selection.scope) {
    const task = store.get(udid);
    if (task && selection.matches(task)) yield task;
  }
}
