/**
 * @internal
 * The DAG as a picture: Graphviz DOT and Mermaid flowcharts. Nodes are tasks
 * (label: source key or stage, and the short UDID), filled by status; edges run
 * parent → child, drawn only when both ends are in the picture.
 */
import type { TaskInfo } from '../store/types.js';
import { shortUdid, statusOf, taskLabel, type TaskStatus } from './task-status.js';

const FILL: Readonly<Record<TaskStatus, string>> = {
  completed: '#c8e6c9',
  filtered: '#e0e0e0',
  failed: '#ffcdd2',
  pending: '#fff9c4',
};
const STROKE: Readonly<Record<TaskStatus, string>> = {
  completed: '#2e7d32',
  filtered: '#757575',
  failed: '#c62828',
  pending: '#f9a825',
};

export function toDot(tasks: readonly TaskInfo[], write: (text: string) => void): void {
  const inPicture = new Set(tasks.map((t) => t.udid));
  write('digraph lineage {\n');
  write('  rankdir=LR;\n');
  write('  node [shape=box, style="rounded,filled", fontname="Helvetica"];\n');
  for (const t of tasks) {
    const status = statusOf(t);
    const label = `${dotEscape(taskLabel(t))}\\n${shortUdid(t.udid)} ${status}`;
    write(`  "${t.udid}" [label="${label}", fillcolor="${FILL[status]}", color="${STROKE[status]}"];\n`);
  }
  for (const t of tasks) {
    for (const c of t.children) if (inPicture.has(c)) write(`  "${t.udid}" -> "${c}";\n`);
  }
  write('}\n');
}

export function toMermaid(tasks: readonly TaskInfo[], write: (text: string) => void): void {
  const inPicture = new Set(tasks.map((t) => t.udid));
  write('flowchart LR\n');
  for (const t of tasks) {
    const status = statusOf(t);
    write(`  t${t.udid}["${mermaidEscape(taskLabel(t))}<br/>${shortUdid(t.udid)} ${status}"]:::${status}\n`);
  }
  for (const t of tasks) {
    for (const c of t.children) if (inPicture.has(c)) write(`  t${t.udid} --> t${c}\n`);
  }
  for (const status of Object.keys(FILL) as TaskStatus[]) {
    write(`  classDef ${status} fill:${FILL[status]},stroke:${STROKE[status]}\n`);
  }
}

function dotEscape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/[\r\n]+/g, ' ');
}

function mermaidEscape(s: string): string {
  return s.replace(/&/g, '#amp;').replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;').replace(/[\r\n]+/g, ' ');
}
