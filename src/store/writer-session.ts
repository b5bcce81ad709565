/**
 * @internal
 * The write path of one shard: validates each emission and failure, resolves
 * its references to task ids (from this session, from disk, or new), and
 * records edges, outcomes and completion. What it keeps per task is in
 * task-state.ts, the completion BFS in completion-walk.ts, the proof that
 * lets new children skip the UDID table in new-children.ts, ids in
 * id-blocks.ts, stage numbers in stage-numbers.ts, and when rows go to the
 * write thread in batch-scheduler.ts (all under session/). One
 * recordEmission call is synchronous, so it never straddles two batches: any
 * committed prefix is a consistent checkpoint.
 */
import { boundErrorText, errorText } from '../errors/error-text.js';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { childOrigin, isRootLineage, madeUdid, lineageNote, noteLineage } from '../identity/lineage.js';
import { trustedUdidWords, isUdid, parseUdidWords } from '../identity/udid.js';
import { BatchScheduler } from './session/batch-scheduler.js';
import { CompletionWalk } from './session/completion-walk.js';
import { IdBlocks } from './session/id-blocks.js';
import { NewChildren } from './session/new-children.js';
import { StageNumbers } from './session/stage-numbers.js';
import { TaskLoader } from './session/task-loader.js';
import {
  COMPLETED,
  HAS_CHILDREN,
  HAS_PARENTS,
  LOADED,
  OUTCOME_MASK,
  TERMINAL,
  TaskState,
  WIDE,
} from './session/task-state.js';
import type { Shard } from './shard.js';
import { outputsJson } from './task-outputs.js';
import { OUTCOME_EMITTED, OUTCOME_FAILED, OUTCOME_FILTERED } from './task-record.js';
import type { EmissionRecord, FailureRecord, TaskRef } from './types.js';

export class WriterSession {
  /** Scratch for lookups. */
  private readonly scratch = Buffer.alloc(16);
  /** The UDIDs of the emission being recorded, as words (parseUdidWords), parents first. */
  private refWords = new Int32Array(64);
  /** Per reference of that emission: the id this session noted on its lineage object (identity/lineage.ts), or 0. */
  private refIds = new Uint32Array(16);
  /** Scratch (no allocation per emission): the emission's distinct parent ids, and the ids it completes. */
  private parentIds = new Uint32Array(16);
  private toComplete = new Uint32Array(16);
  private readonly tasks: TaskState;
  private readonly fresh: NewChildren;
  private readonly loader: TaskLoader;
  private readonly walk: CompletionWalk;
  private readonly blocks: IdBlocks;
  private readonly stages: StageNumbers;
  private readonly scheduler: BatchScheduler;
  /** Emissions recorded in this session. */
  emissions = 0;
  /** False when the shard held no task at open: no lookup can hit, so none is made. */
  private readonly diskMayHave: boolean;

  constructor(
    private readonly shard: Shard,
    readonly run: number,
  ) {
    shard.indexOrphanedBlocks();
    this.diskMayHave = shard.hasTasks();
    this.tasks = new TaskState();
    this.fresh = new NewChildren(this.tasks, !this.diskMayHave, shard.dir);
    this.stages = new StageNumbers(shard);
    this.loader = new TaskLoader(shard, this.tasks, this.fresh, this.stages);
    this.walk = new CompletionWalk(this.tasks, this.loader, run);
    this.blocks = new IdBlocks(shard, this.tasks);
    this.scheduler = new BatchScheduler(shard, this.tasks, this.blocks, this.stages);
  }

  /** Told once, on the main thread, when a commit fails: a runner stops admitting work at once. */
  get onWriteFailure(): ((err: unknown) => void) | null {
    return this.scheduler.onWriteFailure;
  }

  set onWriteFailure(listener: ((err: unknown) => void) | null) {
    this.scheduler.onWriteFailure = listener;
  }

  /** Returns true when some child is complete once recorded (it existed complete already, or the emission is terminal). */
  recordEmission(rec: EmissionRecord): boolean {
    if ((this.emissions & 4095) === 0) this.scheduler.checkRoom();
    const { parents, children } = rec;
    if (!Array.isArray(parents) || parents.length === 0) {
      throw new LineageError(
        ErrorCodes.INVALID_ARGUMENT,
        `recordEmission: stage "${rec.stage}" gave no parents; an emission consumes at least one task.`,
      );
    }
    if (!Array.isArray(children)) {
      throw new LineageError(ErrorCodes.INVALID_ARGUMENT, `recordEmission: stage "${rec.stage}": children must be an array.`);
    }
    const stage = this.stages.local(checkStage(rec.stage));
    // Validate every reference before the first write, so bad input writes nothing.
    const outputs = rec.outputs === undefined ? null : outputsJson(rec.stage, rec.outputs);
    const np = parents.length;
    const refs = np + children.length;
    if (this.refWords.length < refs * 4) {
      this.refWords = new Int32Array(refs * 8);
      this.refIds = new Uint32Array(refs * 2);
    }
    const w = this.refWords;
    const t = this.tasks;
    const u = t.udids;
    for (let i = 0; i < refs; i++) {
      const ref = i < np ? parents[i]! : children[i - np]!;
      // A lineage this session recorded before (the child of an earlier emission, now a parent) carries its id.
      const noted = lineageNote(ref, this);
      this.refIds[i] = noted;
      if (noted !== 0) {
        w[i * 4] = u[noted * 4]!;
        w[i * 4 + 1] = u[noted * 4 + 1]!;
        w[i * 4 + 2] = u[noted * 4 + 2]!;
        w[i * 4 + 3] = u[noted * 4 + 3]!;
      } else {
        // A lineage made by rootLineage/childLineage holds a valid UDID: its bytes are read from its digest, unchecked.
        const digest = madeUdid(ref);
        if (digest !== null) trustedUdidWords(digest, w, i * 4);
        else if (!parseUdidWords(typeof ref === 'string' ? ref : ref?.udid, w, i * 4)) refUdid(ref, rec.stage, i < np ? 'parent' : 'child');
      }
    }
    this.refuseSelfChild(rec, np);

    if (this.parentIds.length < np) this.parentIds = new Uint32Array(np * 2);
    if (this.toComplete.length < np + children.length) this.toComplete = new Uint32Array((np + children.length) * 2);
    const parentIds = this.parentIds;
    const toComplete = this.toComplete;
    let nParents = 0;
    let nComplete = 0;
    // A wide fan-in (a stateful stage's finish names every input) must not be quadratic.
    const distinct = np > WIDE ? new Set<number>() : null;
    for (let i = 0; i < np; i++) {
      const id = this.refIds[i] || this.resolve(i, 0, 0, 0, parents[i]!);
      if (distinct ? distinct.has(id) : includes(parentIds, nParents, id)) continue;
      distinct?.add(id);
      parentIds[nParents++] = id;
    }
    const rootOfChildren = t.root[parentIds[0]!]!;
    const terminal = rec.terminal === true;
    let anyComplete = terminal && children.length > 0;
    const origin = this.fresh.origin(rec, parentIds, nParents);
    // The open batch is replaced only when sent, never during this synchronous call.
    const batch = this.scheduler.batch;

    for (let i = 0; i < children.length; i++) {
      const ref = children[i]!;
      let cid = this.refIds[np + i]!;
      if (cid === 0) {
        if (origin === null || childOrigin(ref) !== origin) cid = this.resolve(np + i, stage, rootOfChildren, terminal ? TERMINAL : 0, ref);
        // Known new; the same object twice in `children` was noted the first time.
        else cid = (i > 0 && lineageNote(ref, this)) || this.createUnlisted(np + i, stage, rootOfChildren, terminal ? TERMINAL : 0);
        noteLineage(ref, this, cid);
      }
      if ((t.state[cid]! & COMPLETED) !== 0) anyComplete = true;
      const known = t.knownParents(cid, nParents);
      for (let j = 0; j < nParents; j++) {
        const pid = parentIds[j]!;
        if (known === null ? t.hasParent(cid, pid) : known.has(pid)) continue;
        t.addParent(cid, pid);
        batch.edge(pid, cid);
        t.set(cid, HAS_PARENTS);
        t.set(pid, HAS_CHILDREN);
        if ((t.state[cid]! & COMPLETED) === 0) t.pending[pid]!++;
      }
      if (terminal && (t.state[cid]! & COMPLETED) === 0) {
        t.set(cid, TERMINAL);
        toComplete[nComplete++] = cid;
      }
    }

    const kind = children.length === 0 ? OUTCOME_FILTERED : OUTCOME_EMITTED;
    for (let j = 0; j < nParents; j++) {
      const pid = parentIds[j]!;
      const s = t.state[pid]!;
      // Completion is monotone: a completed task keeps its outcome.
      if ((s & COMPLETED) !== 0 && (s & OUTCOME_MASK) !== 0) continue;
      if ((s & OUTCOME_MASK) !== kind || t.outcomeStage[pid] !== stage) {
        t.state[pid] = (s & ~OUTCOME_MASK) | kind;
        t.outcomeStage[pid] = stage;
        if ((s & OUTCOME_MASK) === OUTCOME_FAILED) t.errors.delete(pid);
        t.markDirty(pid);
      }
      if (kind === OUTCOME_FILTERED || t.pending[pid] === 0) toComplete[nComplete++] = pid;
    }
    for (let j = 0; j < nComplete; j++) this.walk.complete(toComplete[j]!);
    if (outputs !== null) batch.outputs(parentIds[0]!, outputs);
    this.emissions++;
    this.scheduler.scheduleSend();
    return anyComplete;
  }

  /** Makes the emission's `k`-th task (refWords), known to be new, without putting it in the UDID table yet. */
  private createUnlisted(k: number, stage: number, root: number, bits: number): number {
    const id = this.create(k, stage, root, bits, null);
    this.fresh.hold(id);
    return id;
  }

  /** A child that is also a parent of the same emission is refused before anything is written. */
  private refuseSelfChild(rec: EmissionRecord, np: number): void {
    const w = this.refWords;
    const wide = np > WIDE ? new Set(rec.parents.map((p) => refUdid(p, rec.stage, 'parent'))) : null;
    for (let k = np; k < np + rec.children.length; k++) {
      let self = false;
      if (wide) self = wide.has(refUdid(rec.children[k - np]!, rec.stage, 'child'));
      else {
        for (let j = 0; j < np && !self; j++) {
          self = w[j * 4] === w[k * 4] && w[j * 4 + 1] === w[k * 4 + 1] && w[j * 4 + 2] === w[k * 4 + 2] && w[j * 4 + 3] === w[k * 4 + 3];
        }
      }
      if (self) {
        throw new LineageError(
          ErrorCodes.INVALID_ARGUMENT,
          `recordEmission: stage "${rec.stage}" emitted task ${refUdid(rec.children[k - np]!, rec.stage, 'child')} as its own child.`,
        );
      }
    }
  }

  recordFailure(rec: FailureRecord): boolean {
    const stage = this.stages.local(checkStage(rec.stage));
    if (!parseUdidWords(typeof rec.task === 'string' ? rec.task : rec.task?.udid, this.refWords, 0)) refUdid(rec.task, rec.stage, 'task');
    const id = this.resolve(0, 0, 0, 0, rec.task);
    const t = this.tasks;
    if ((t.state[id]! & COMPLETED) !== 0) return false;
    const text = typeof rec.error === 'string' ? boundErrorText(rec.error) : errorText(rec.error);
    t.state[id] = (t.state[id]! & ~OUTCOME_MASK) | OUTCOME_FAILED;
    t.outcomeStage[id] = stage;
    t.errors.set(id, text);
    t.markDirty(id);
    this.scheduler.scheduleSend();
    return true;
  }

  /** True when the task is known complete, including writes not yet committed. `root`: the UDID is a root lineage's (isRootLineage). */
  completedInSession(udid: string, root = false): boolean | undefined {
    const w = this.refWords;
    if (!parseUdidWords(udid, w, 0)) return undefined;
    const id = this.fresh.listed(root).getWords(w[0]!, w[1]!, w[2]!, w[3]!);
    return id === 0 ? undefined : (this.tasks.state[id]! & COMPLETED) !== 0;
  }

  /**
   * True when every task in the shard is one this session knows: the shard
   * held none at open, and no other process has claimed ids in it since. A
   * task the session does not know is then in no shard, and the runner's
   * question whether it is complete needs no lookup on disk.
   */
  soleAuthor(): boolean {
    return !this.diskMayHave && this.blocks.noOtherClaims();
  }

  /** True when the open batch has grown large while the write thread is busy: the caller should `await drain()`. */
  get needsDrain(): boolean {
    return this.scheduler.needsDrain;
  }

  /** Waits until the open batch has been handed to the write thread. */
  drain(): Promise<void> {
    return this.scheduler.drain();
  }

  /** Resolves when every write issued so far is committed (visible to readers, and durable). */
  committed(): Promise<void> {
    return this.scheduler.committed();
  }

  /** From now on the next batch merges every task left into the `udid` index: the session is about to close. */
  finishIndexing(): void {
    this.scheduler.finishIndexing();
  }

  /** Commits what is left (the last index merge included) and stops the write thread. */
  close(): Promise<void> {
    return this.scheduler.close();
  }

  /** The id of the emission's `k`-th task (refWords), from this session, from disk, or newly created. */
  private resolve(k: number, stage: number, root: number, bits: number, ref: TaskRef): number {
    const w = this.refWords;
    const a = w[k * 4]!;
    const b = w[k * 4 + 1]!;
    const c = w[k * 4 + 2]!;
    const d = w[k * 4 + 3]!;
    const isRoot = isRootLineage(ref);
    const found = this.fresh.listed(isRoot).find(a, b, c, d);
    if (found > 0) return found;
    if (this.diskMayHave) {
      const scratch = this.scratch;
      // Why: four int stores into a reused buffer, not a Buffer per lookup (this runs for every reference not yet in memory).
      scratch.writeInt32LE(a, 0);
      scratch.writeInt32LE(b, 4);
      scratch.writeInt32LE(c, 8);
      scratch.writeInt32LE(d, 12);
      const onDisk = this.shard.idOf(scratch, true);
      if (onDisk !== undefined) return this.loader.load(onDisk);
    }
    if (!isRoot) this.fresh.known = false;
    const id = this.create(k, stage, root, bits, ref);
    // Nothing changed the table since the lookup (a task found on disk has returned).
    this.tasks.index.addAt(found, a, id);
    return id;
  }

  /** A new task for the emission's `k`-th reference (refWords); `root` 0: it is a root. */
  private create(k: number, stage: number, root: number, bits: number, ref: TaskRef | null): number {
    const w = this.refWords;
    const id = this.blocks.allocate();
    const t = this.tasks;
    const u = t.udids;
    u[id * 4] = w[k * 4]!;
    u[id * 4 + 1] = w[k * 4 + 1]!;
    u[id * 4 + 2] = w[k * 4 + 2]!;
    u[id * 4 + 3] = w[k * 4 + 3]!;
    const isRoot = root === 0;
    t.root[id] = isRoot ? id : root;
    t.stage[id] = stage;
    t.state[id] = LOADED | bits;
    t.markDirty(id);
    if (isRoot && typeof ref === 'object' && ref?.sourceKey) this.scheduler.batch.source(id, ref.sourceKey);
    return id;
  }
}

function includes(ids: Uint32Array, count: number, id: number): boolean {
  for (let i = 0; i < count; i++) if (ids[i] === id) return true;
  return false;
}

function checkStage(stage: unknown): string {
  if (typeof stage !== 'string' || stage.length === 0) {
    throw new LineageError(
      ErrorCodes.INVALID_ARGUMENT,
      `recordEmission: the stage id must be a non-empty string, got ${JSON.stringify(stage)}.`,
    );
  }
  return stage;
}

function refUdid(ref: TaskRef, stage: string, role: string): string {
  const udid = typeof ref === 'string' ? ref : ref?.udid;
  if (!isUdid(udid)) {
    throw new LineageError(
      ErrorCodes.INVALID_UDID,
      `stage "${stage}": ${role} ${JSON.stringify(udid)} is not a UDID (32 lowercase hex characters). ` +
        'Use the udid from rootLineage/childLineage/assignChildLineage.',
    );
  }
  return udid;
}
