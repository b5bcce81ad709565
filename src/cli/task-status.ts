/**
 * @internal
 * One status per task, as `lineage inspect` shows and filters it. A filtered
 * task is complete too; it is told apart because a filter is a decision of the
 * pipeline, not output that reached the sink.
 */
import type { TaskInfo } from '../store/types.js';

export const STATUSES = ['completed', 'filtered', 'failed', 'pending'] as const;
export type TaskStatus = (typeof STATUSES)[number];

export const STATUS_MARK: Readonly<Record<TaskStatus, string>> = {
  completed: '✓',
  filtered: '–',
  failed: '✗',
  pending: '○',
};

export const LEGEND = '✓ completed  – filtered  ✗ failed  ○ pending';

export function statusOf(task: TaskInfo): TaskStatus {
  if (task.outcome?.kind === 'filtered') return 'filtered';
  if (task.completed !== null) return 'completed';
  if (task.outcome?.kind === 'failed') return 'failed';
  return 'pending';
}

/** A short note on why a task stands where it does, or ''. */
export function statusNote(task: TaskInfo, status: TaskStatus = statusOf(task)): string {
  const o = task.outcome;
  if (status === 'filtered') return `filtered by ${o?.stage ?? '?'}`;
  if (status === 'failed') return `failed in ${o?.stage ?? '?'}${o?.error ? `: ${oneLine(o.error)}` : ''}`;
  if (status === 'pending' && o === null) return 'not consumed yet';
  return '';
}

/** First 8 hex characters: what the tree and pictures show. */
export function shortUdid(udid: string): string {
  return udid.slice(0, 8);
}

/** What a task is called in a tree or a picture: its source key for a root, else the stage that emitted it. */
export function taskLabel(task: TaskInfo): string {
  if (task.stage === null) return task.sourceKey ?? '(source)';
  return task.stage;
}

/** The record `--format json` and `ndjson` print for a task. */
export function taskRecord(task: TaskInfo): Record<string, unknown> {
  return {
    udid: task.udid,
    status: statusOf(task),
    stage: task.stage,
    sourceKey: task.sourceKey,
    taskType: task.taskType,
    terminal: task.terminal,
    parents: task.parents,
    children: task.children,
    outcome: task.outcome,
    completed: task.completed,
  };
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
