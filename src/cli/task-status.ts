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

/**
 * `JSON.stringify(taskRecord(task))`, built by hand: NDJSON of millions of
 * tasks spends most of its time formatting, and UDIDs need no escaping.
 * Strings that may need escaping (stage, source key, outcome, completion)
 * go through JSON.stringify, cached while they repeat.
 */
export class TaskLineWriter {
  private readonly strings = new Map<string, string>();
  private lastCompleted: unknown = undefined;
  private lastCompletedText = '';

  line(task: TaskInfo): string {
    return (
      `{"udid":"${task.udid}","status":"${statusOf(task)}","stage":${this.str(task.stage)},"sourceKey":${this.str(task.sourceKey)},` +
      `"taskType":"${task.taskType}","terminal":${task.terminal},"parents":${udids(task.parents)},"children":${udids(task.children)},` +
      `"outcome":${this.outcome(task.outcome)},"completed":${this.completed(task.completed)}}`
    );
  }

  private str(value: string | null): string {
    if (value === null) return 'null';
    let text = this.strings.get(value);
    if (text === undefined) {
      text = JSON.stringify(value);
      if (this.strings.size > 4096) this.strings.clear();
      this.strings.set(value, text);
    }
    return text;
  }

  private outcome(o: TaskInfo['outcome']): string {
    if (o === null) return 'null';
    if (o.error !== undefined) return JSON.stringify(o);
    return `{"kind":"${o.kind}","stage":${this.str(o.stage)}}`;
  }

  private completed(c: TaskInfo['completed']): string {
    if (c === null) return 'null';
    if (c !== this.lastCompleted) {
      this.lastCompleted = c;
      this.lastCompletedText = JSON.stringify(c);
    }
    return this.lastCompletedText;
  }
}

function udids(list: readonly string[]): string {
  return list.length === 0 ? '[]' : `["${list.join('","')}"]`;
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
