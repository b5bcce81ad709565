/**
 * @internal
 * What a writer session holds per task id it touches: what the task's `meta`
 * row holds plus the count of incomplete children that incremental
 * completion needs (docs/design.md §4), ~38 bytes a task, in typed arrays indexed
 * by id; the UDID → id table over them (session-index.ts); the parents of
 * fan-in children (parent-lists.ts); and the list of tasks whose row must be
 * written with the next batch.
 *
 * The arrays are public fields read directly by the session's hot loops: a
 * getter or a method per access would cost a call on every task.
 */
import { FLAG_HAS_CHILDREN, FLAG_HAS_PARENTS, FLAG_TERMINAL, OUTCOME_FAILED, writeTaskRecord } from '../task-record.js';
import type { WriteBatch } from '../write-batch.js';
import { ParentLists } from './parent-lists.js';
import { SessionIndex } from './session-index.js';
import type { StageNumbers } from './stage-numbers.js';

// Bits of the per-task state.
export const OUTCOME_MASK = 0b11;
export const HAS_PARENTS = 1 << 2;
export const HAS_CHILDREN = 1 << 3;
export const COMPLETED = 1 << 4;
export const TERMINAL = 1 << 5;
/** The task's state is in memory (created this session, or loaded from disk). */
export const LOADED = 1 << 6;
/** The task's `meta` row must be written with the next batch. */
export const DIRTY = 1 << 7;
/** The task has more than one parent: `parentRef` names its list in `parentLists`, not a task id. */
export const MANY_PARENTS = 1 << 8;
/** The shard holds (or the open batch writes) an error text for the task. */
export const ERROR_ROW = 1 << 9;

/**
 * Room for tasks in the per-task arrays at first.
 * Why: small, so that the first id block outgrows it and the arrays are
 * replaced once before any hot code is optimised. V8 treats a field written
 * only once as a constant, and the first replacement later on (at ~50,000
 * tasks) made it drop the optimised code of every method that reads them
 * (docs/performance.md, initial-tasks).
 */
const INITIAL_TASKS = 1 << 10;

/** Parents beyond which an emission's duplicate checks use sets instead of scanning arrays. */
export const WIDE = 16;
const NO_IDS: ReadonlySet<number> = new Set();

export class TaskState {
  state = new Uint16Array(INITIAL_TASKS);
  pending = new Uint32Array(INITIAL_TASKS);
  /** The task's parent (0: none), or with MANY_PARENTS its list of parents in `parentLists`. */
  parentRef = new Uint32Array(INITIAL_TASKS);
  root = new Uint32Array(INITIAL_TASKS);
  stage = new Uint16Array(INITIAL_TASKS);
  outcomeStage = new Uint16Array(INITIAL_TASKS);
  completedRun = new Uint32Array(INITIAL_TASKS);
  /** Each task's UDID as four words. */
  udids = new Int32Array(4 * INITIAL_TASKS);
  /** UDID → id of every task in memory but those new-children.ts holds back, over `udids`. */
  readonly index = new SessionIndex(this.udids);
  readonly parentLists = new ParentLists();
  /** Error text of failed tasks whose row is yet to be written (or was loaded). */
  readonly errors = new Map<number, string>();
  private dirty = new Uint32Array(1 << 12);
  dirtyCount = 0;

  /** Sets a bit of the task's state; its row is rewritten when that changes it. */
  set(id: number, bit: number): void {
    const s = this.state[id]!;
    if ((s & bit) !== 0) return;
    this.state[id] = s | bit;
    this.markDirty(id);
  }

  markDirty(id: number): void {
    const s = this.state[id]!;
    if ((s & DIRTY) !== 0) return;
    this.state[id] = s | DIRTY;
    if (this.dirtyCount === this.dirty.length) this.dirty = grown(this.dirty);
    this.dirty[this.dirtyCount++] = id;
  }

  /** Writes the rows of the dirty tasks into `batch`, in id order, and clears the list. */
  writeDirty(batch: WriteBatch, stages: StageNumbers): void {
    const dirty = this.dirty.subarray(0, this.dirtyCount).sort();
    for (const id of dirty) {
      this.state[id]! &= ~DIRTY;
      this.writeRecord(batch, stages, id);
    }
    this.dirtyCount = 0;
  }

  private writeRecord(batch: WriteBatch, stages: StageNumbers, id: number): void {
    const s = this.state[id]!;
    const o = batch.meta(id);
    const u = this.udids;
    const outcome = s & OUTCOME_MASK;
    writeTaskRecord(
      batch.metaBuffer,
      o,
      u[id * 4]!,
      u[id * 4 + 1]!,
      u[id * 4 + 2]!,
      u[id * 4 + 3]!,
      stages.shardStage(this.stage[id]!),
      this.root[id]!,
      ((s & TERMINAL) !== 0 ? FLAG_TERMINAL : 0) | ((s & HAS_PARENTS) !== 0 ? FLAG_HAS_PARENTS : 0) | ((s & HAS_CHILDREN) !== 0 ? FLAG_HAS_CHILDREN : 0),
      outcome,
      outcome === 0 ? 0 : stages.shardStage(this.outcomeStage[id]!),
      (s & COMPLETED) !== 0 ? this.completedRun[id]! : 0,
    );
    const error = (s & OUTCOME_MASK) === OUTCOME_FAILED ? this.errors.get(id) : undefined;
    if (error !== undefined) {
      batch.error(id, error);
      this.state[id]! |= ERROR_ROW;
    } else if ((s & ERROR_ROW) !== 0) {
      batch.error(id, null);
      this.state[id]! &= ~ERROR_ROW;
    }
  }

  /** For a wide emission: the child's parents so far as a set (empty for a new child); null: use hasParent. */
  knownParents(cid: number, incoming: number): ReadonlySet<number> | null {
    if (incoming <= WIDE) return null;
    const first = this.parentRef[cid]!;
    if (first === 0) return NO_IDS;
    return new Set((this.state[cid]! & MANY_PARENTS) !== 0 ? this.parentLists.toArray(first) : [first]);
  }

  hasParent(cid: number, pid: number): boolean {
    const first = this.parentRef[cid]!;
    return (this.state[cid]! & MANY_PARENTS) === 0 ? first === pid : this.parentLists.has(first, pid);
  }

  addParent(cid: number, pid: number): void {
    const first = this.parentRef[cid]!;
    if ((this.state[cid]! & MANY_PARENTS) !== 0) this.parentRef[cid] = this.parentLists.add(first, pid);
    else if (first === 0) this.parentRef[cid] = pid;
    else {
      this.parentRef[cid] = this.parentLists.of([first, pid]);
      this.state[cid]! |= MANY_PARENTS;
    }
  }

  /** Sets the parents of a task loaded from disk (`s`: its state so far); returns its state with the parent bits. */
  setParents(id: number, parents: readonly number[], s: number): number {
    if (parents.length === 0) return s;
    if (parents.length === 1) {
      this.parentRef[id] = parents[0]!;
      return s | HAS_PARENTS;
    }
    this.parentRef[id] = this.parentLists.of(parents);
    return s | HAS_PARENTS | MANY_PARENTS;
  }

  /** Makes room for task `id`: the arrays double until it fits. */
  ensureCapacity(id: number): void {
    if (id < this.state.length) return;
    let size = this.state.length;
    while (size <= id) size *= 2;
    const grow = <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(size);
      b.set(a);
      return b;
    };
    this.state = grow(this.state, (n) => new Uint16Array(n));
    this.pending = grow(this.pending, (n) => new Uint32Array(n));
    this.parentRef = grow(this.parentRef, (n) => new Uint32Array(n));
    this.root = grow(this.root, (n) => new Uint32Array(n));
    this.stage = grow(this.stage, (n) => new Uint16Array(n));
    this.outcomeStage = grow(this.outcomeStage, (n) => new Uint16Array(n));
    this.completedRun = grow(this.completedRun, (n) => new Uint32Array(n));
    this.udids = grow(this.udids, (n) => new Int32Array(n * 4));
    this.index.words = this.udids;
  }
}

/** `a` at twice the length. */
export function grown(a: Uint32Array<ArrayBuffer>): Uint32Array<ArrayBuffer> {
  const bigger = new Uint32Array(a.length * 2);
  bigger.set(a);
  return bigger;
}
