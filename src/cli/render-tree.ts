/**
 * @internal
 * The readable DAG: a tree per source, depth-first in recording order. A task
 * with several parents (a fan-in) is drawn in full under the first of them and
 * as a one-line back-reference under the others, so the tree stays a tree and
 * its size stays the DAG's. `depth` bounds the levels below the root, `budget`
 * the number of lines over all trees.
 */
import type { LineageStore } from '../store/lineage-store.js';
import type { TaskInfo } from '../store/types.js';
import { STATUS_MARK, shortUdid, statusNote, statusOf, taskLabel } from './task-status.js';

export interface TreeBudget {
  /** Lines that may still be printed. */
  left: number;
  /** Tasks already drawn (a fan-in's second parent only refers back to them). */
  readonly drawn: Set<string>;
}

/** One task as a line of text, without tree connectors. */
export function taskLine(task: TaskInfo): string {
  const status = statusOf(task);
  const note = statusNote(task, status);
  return `${STATUS_MARK[status]} ${taskLabel(task)}  ${shortUdid(task.udid)}${note ? `  ${note}` : ''}`;
}

/**
 * Draws the tree under `rootUdid` into `emit`, one line per call. Returns false
 * when the budget ran out before the tree was complete.
 */
export function drawTree(store: LineageStore, rootUdid: string, maxDepth: number, budget: TreeBudget, emit: (line: string) => void): boolean {
  const root = store.get(rootUdid);
  if (!root) return true;
  if (budget.left <= 0) return false;
  budget.left--;
  budget.drawn.add(root.udid);
  emit(taskLine(root) + belowNote(root, 0, maxDepth));
  return maxDepth > 0 ? drawChildren(store, root, '', 1, maxDepth, budget, emit) : true;
}

function drawChildren(
  store: LineageStore,
  parent: TaskInfo,
  prefix: string,
  depth: number,
  maxDepth: number,
  budget: TreeBudget,
  emit: (line: string) => void,
): boolean {
  const kids = parent.children;
  for (let i = 0; i < kids.length; i++) {
    if (budget.left <= 0) return false;
    const last = i === kids.length - 1;
    const branch = prefix + (last ? '└─ ' : '├─ ');
    const task = store.get(kids[i]!);
    if (!task) continue;
    budget.left--;
    if (budget.drawn.has(task.udid)) {
      emit(`${branch}↑ ${taskLabel(task)}  ${shortUdid(task.udid)}  (shown above: it has ${task.parents.length} parents)`);
      continue;
    }
    budget.drawn.add(task.udid);
    emit(branch + taskLine(task) + belowNote(task, depth, maxDepth));
    if (depth < maxDepth && !drawChildren(store, task, prefix + (last ? '   ' : '│  '), depth + 1, maxDepth, budget, emit)) return false;
  }
  return true;
}

function belowNote(task: TaskInfo, depth: number, maxDepth: number): string {
  if (depth < maxDepth || task.children.length === 0) return '';
  const n = task.children.length;
  return `  (+${n} ${n === 1 ? 'child' : 'children'} below --depth ${maxDepth})`;
}
