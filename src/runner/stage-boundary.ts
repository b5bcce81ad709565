/**
 * @internal
 * Where tasks enter and leave the stages of a run: tasks alive per stage and
 * per source, the keyed groups a source holds open, and the pruning of
 * complete tasks before they execute. A task is pruned on its own at a plain
 * stage; the members of a keyed group and the inputs of a stateful stage are
 * decided as a whole set once no more of them can arrive (group-handover.ts).
 */
import { errorText } from '../errors/error-text.js';
import { rootLineage } from '../identity/lineage.js';
import type { Source } from '../model/source.js';
import { isBatchStage, type Stage, type TaskContext } from '../model/stage.js';
import type { LineageStore } from '../store/lineage-store.js';
import { handover, KeyedGroup, SourceState } from './group-handover.js';
import type { RunCounters } from './run-report.js';
import type { StageCall, StageTask } from './stage-adapter.js';
import type { StageQueues } from './stage-queues.js';
import type { StatefulDriver } from './stateful-driver.js';
import { Task } from './task.js';

export class StageBoundary {
  private readonly n: number;
  private readonly perSource = new Map<string, SourceState>();
  private readonly keyed: (((input: unknown, ctx: TaskContext) => string) | null)[];
  /** The checkpoint's answer whether a task is complete (null: no checkpoint); made once, not per question. */
  readonly isCompleted: ((udid: string) => boolean) | null;
  /** Tasks alive, all stages and sources together. */
  inFlight = 0;
  /** Tasks alive at each stage, all sources together. */
  readonly aliveAt: Int32Array;
  /** Lowest stage at which any task failed (n: none); a stateful stage after it holds `finish` back. */
  firstFailure: number;
  /** Lowest stage a task was pruned before entering (n: none): an input of a stateful stage after it may be missing. */
  firstPrune: number;
  /** Per stage: some task that entered it may be complete (for a stateful stage's decision over its inputs). */
  readonly mayBeCompleteAt: Uint8Array;

  constructor(
    private readonly stages: readonly Stage[],
    private readonly store: LineageStore | null,
    private readonly counters: RunCounters,
    private readonly queues: StageQueues,
    /** Per stage: the driver of a stateful stage, else null. */
    private readonly drivers: readonly (StatefulDriver | null)[],
  ) {
    this.n = stages.length;
    this.isCompleted = store === null ? null : (udid) => store.isCompleted(udid);
    this.keyed = stages.map((s) => {
      if (!isBatchStage(s) || s.groupBy === undefined) return null;
      return s.groupBy === 'source' ? () => '' : s.groupBy;
    });
    this.aliveAt = new Int32Array(this.n);
    this.firstFailure = this.n;
    this.firstPrune = this.n;
    this.mayBeCompleteAt = new Uint8Array(this.n);
  }

  /** `task` failed at stage i: later groups of its source are held back, and stateful stages after i. */
  failed(i: number, task: StageTask): void {
    this.firstFailure = Math.min(this.firstFailure, i);
    const s = this.perSource.get(task.lineage.sourceKey)!;
    s.failedAt = Math.min(s.failedAt, i);
  }

  /** Sources whose input changed (another fingerprint than the one recorded), held back from this pass. */
  readonly changed: { source: Source; recorded: string }[] = [];

  /**
   * A source read from the run's sources enters stage 0, unless its key was
   * already given in this run, the checkpoint has it complete, or its input
   * changed (then it is held back in `changed`).
   */
  admit(source: Source): void {
    const lineage = rootLineage(source.key);
    // Its key was given before in this run: run again, it would double its outputs (a keyed group
    // would hold every member twice). Known from the tasks alive now and from the store's session,
    // so no key is remembered once its source is done.
    if (this.perSource.has(source.key) || (this.store !== null && this.store.consumedInRun(lineage))) {
      this.counters.duplicate(source.key);
      return;
    }
    if (this.store !== null && source.fingerprint !== undefined) {
      const recorded = this.store.sourceFingerprint(source.key);
      // None recorded (a new source, or one run before it had a fingerprint): this one is the first, no change.
      if (recorded === undefined) this.store.recordSourceFingerprint(source.key, source.fingerprint);
      else if (recorded !== source.fingerprint) {
        // Its input changed: what it recorded is voided once this pass is over, then it runs again (pipeline.ts).
        this.changed.push({ source, recorded });
        return;
      }
    }
    if (this.store !== null && this.store.isSourceCompleted(lineage)) {
      this.counters.sourcesSkipped++;
      return;
    }
    this.enterRoot(new Task(source.data, lineage));
  }

  /** A stateful stage's children enter the next stage; groups waiting downstream for their source may close. */
  passOnFinished(k: number, r: StageCall): void {
    if (r.kind !== 'children' || k + 1 >= this.n) return;
    const sources = new Set<string>();
    for (const child of r.children) {
      this.passOn(k + 1, child, r.completeChildren);
      if (this.perSource.has(child.lineage.sourceKey)) sources.add(child.lineage.sourceKey);
    }
    for (const key of sources) this.release(key, this.perSource.get(key)!, k);
  }

  /**
   * A child enters stage i, unless the checkpoint has it complete (`mayBeComplete`:
   * the recorder did not rule that out). A member of a keyed group is never
   * pruned on its own, nor an input of a stateful stage: the set is decided
   * whole when it is handed over (group-handover.ts).
   */
  passOn(i: number, child: StageTask, mayBeComplete: boolean): void {
    const ask = this.store !== null && mayBeComplete;
    if (ask && this.keyed[i] === null && this.drivers[i] === null && this.store!.isCompleted(child.lineage.udid)) {
      this.counters.pruned(i);
      this.firstPrune = Math.min(this.firstPrune, i);
      const s = this.perSource.get(child.lineage.sourceKey);
      if (s) s.prunedAt = Math.min(s.prunedAt, i);
      return;
    }
    if (ask) this.mayBeCompleteAt[i] = 1;
    this.enter(i, child, ask);
  }

  /** A task reaches stage i: queued, or held in its source's group when the stage groups by key. */
  private enter(i: number, task: StageTask, mayBeComplete = false): void {
    const key = task.lineage.sourceKey;
    let s = this.perSource.get(key);
    if (!s) {
      s = new SourceState(this.n);
      this.perSource.set(key, s);
    }
    const groupOf = this.keyed[i];
    const g = groupOf ? this.groupKey(i, groupOf, task) : null;
    if (groupOf && g === null) {
      // It never joins its group, so that group (and any later one of the source) would be
      // short: counted as a failure just before stage i, which holds them back.
      s.failedAt = Math.min(s.failedAt, i - 1);
      this.firstFailure = Math.min(this.firstFailure, i);
      if (s.total === 0) this.perSource.delete(key);
      return;
    }
    s.alive[i]!++;
    s.total++;
    this.inFlight++;
    this.aliveAt[i]!++;
    if (g !== null) {
      s.groups ??= new Map();
      let byKey = s.groups.get(i);
      if (!byKey) s.groups.set(i, (byKey = new Map()));
      let group = byKey.get(g);
      if (!group) byKey.set(g, (group = new KeyedGroup()));
      group.tasks.push(task);
      if (mayBeComplete) group.mayBeComplete = true;
      return;
    }
    this.queues.push(i, task);
  }

  /** The task's group at stage i; null when `groupBy` threw or gave no string: the task is then recorded failed. */
  private groupKey(i: number, groupOf: (input: unknown, ctx: TaskContext) => string, task: StageTask): string | null {
    const stage = this.stages[i]!.id;
    let g: unknown;
    let error: string;
    try {
      g = groupOf(task.data, { stage, udid: task.lineage.udid, sourceKey: task.lineage.sourceKey, lineage: task.lineage, attempt: 0 });
      if (typeof g === 'string') return g;
      error = `groupBy returned ${describeValue(g)} for this task; it must return a string.`;
    } catch (err) {
      error = `groupBy threw: ${errorText(err)}`;
    }
    this.store?.recordFailure({ stage, task: task.lineage, error });
    this.counters.entryFailed(i, task, error);
    return null;
  }

  /** A source's root at a `groupBy` stage 0 is a group of one: nothing upstream can join it. */
  enterRoot(task: StageTask): void {
    this.enter(0, task);
    const s = this.keyed[0] ? this.perSource.get(task.lineage.sourceKey) : undefined;
    const groups = s?.groups?.get(0);
    if (groups) {
      for (const [g, group] of groups) this.queues.pushReady(0, { tasks: group.tasks, key: g });
      s!.groups!.delete(0);
    }
  }

  /** A task of stage i is done with (emitted, filtered, failed, absorbed): close groups it was holding open. */
  leave(i: number, task: StageTask): void {
    const key = task.lineage.sourceKey;
    const s = this.perSource.get(key)!;
    s.alive[i]!--;
    s.total--;
    this.inFlight--;
    this.aliveAt[i]!--;
    this.release(key, s, i);
  }

  /**
   * Hands over the source's groups after stage i that nothing upstream can
   * still add to (each run, pruned or held back whole: see group-handover.ts);
   * forgets the source when nothing of it is alive.
   */
  private release(key: string, s: SourceState, i: number): void {
    if (s.groups) {
      let upstream = 0;
      let retired: { f: number; tasks: StageTask[]; verdict: 'prune' | 'hold' }[] | null = null;
      for (let f = 0; f < this.n; f++) {
        const byKey = f > i ? s.groups.get(f) : undefined;
        if (byKey && upstream === 0) {
          s.groups.delete(f);
          // A fixed order, whatever the arrival order: groups by key, tasks by UDID.
          for (const g of [...byKey.keys()].sort()) {
            const group = byKey.get(g)!;
            const verdict = handover(group, f, s, this.isCompleted);
            if (verdict === 'run') {
              const members = group.tasks.sort((a, b) => (a.lineage.udid < b.lineage.udid ? -1 : 1));
              this.queues.pushReady(f, { tasks: members, key: g });
              continue;
            }
            // Held: a member failed upstream, or may be missing, and merging the rest would emit an
            // output an uninterrupted run never makes; a rerun redoes it whole. Pruned: it is complete.
            (retired ??= []).push({ f, tasks: group.tasks, verdict });
            if (verdict === 'prune') {
              s.prunedAt = Math.min(s.prunedAt, f);
              this.firstPrune = Math.min(this.firstPrune, f);
            }
          }
        }
        upstream += s.alive[f]!;
      }
      if (s.groups.size === 0) s.groups = null;
      if (retired) {
        for (const { f, tasks, verdict } of retired) {
          if (verdict === 'hold') this.counters.held(f, tasks.length);
          else for (let k = 0; k < tasks.length; k++) this.counters.pruned(f);
          for (const t of tasks) this.leave(f, t);
        }
        return;
      }
    }
    if (s.total === 0) this.perSource.delete(key);
  }
}

/** A value as a user would recognise it in a message, whatever it is. */
function describeValue(value: unknown): string {
  if (typeof value === 'symbol' || typeof value === 'function' || typeof value === 'bigint') return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return `a ${typeof value}`;
  }
}
