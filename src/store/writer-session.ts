/**
 * @internal
 * The write path of one shard: assigns ids, keeps, for the tasks it touches,
 * what their `meta` rows hold plus the count of incomplete children that
 * incremental completion needs (DESIGN.md §4), ~38 bytes a task plus its
 * 8-byte slot in the UDID → id table (session-index.ts), and hands rows to
 * the write thread in batches. A child the session knows to be new (see
 * newChildren) is not looked up and joins the table only when a question
 * could be about it: in a first run of a pipeline, that is never.
 *
 * Edge rows go into the open batch as they are recorded; `udid` rows wait
 * and are merged into the index in bulk (udid-tail.ts). A task
 * whose state changed is marked dirty and its `meta` row is written once, when
 * the batch is sent, however often it changed meanwhile. A batch is sent when
 * the write thread is idle (at the end of the event turn, and at least
 * MIN_BATCH_MS after the last) or has just finished
 * the previous one, and commits as one transaction (a big index merge follows
 * in parts, write-worker.js). One recordEmission call
 * is synchronous, so it never straddles two batches: any committed prefix is a
 * consistent checkpoint.
 */
import { boundErrorText, errorText } from '../errors/error-text.js';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { childOrigin, isRootLineage, lineageDigest, lineageNote, noteLineage } from '../identity/lineage.js';
import { digestWords, isUdid, parseUdidWords } from '../identity/udid.js';
import type { Shard } from './shard.js';
import { FLAG_HAS_CHILDREN, FLAG_HAS_PARENTS, FLAG_TERMINAL, OUTCOME_EMITTED, OUTCOME_FAILED, OUTCOME_FILTERED, writeTaskRecord } from './task-record.js';
import type { EmissionRecord, FailureRecord, TaskRef } from './types.js';
import { ParentLists } from './parent-lists.js';
import { SessionIndex } from './session-index.js';
import { tailLimit } from './udid-tail.js';
import { WriteBatch, addToRanges } from './write-batch.js';
import { WriteThread, type IdBlock } from './write-thread.js';
import { writeFailure } from './write-failure.js';

// Bits of the per-task state.
const OUTCOME_MASK = 0b11;
const HAS_PARENTS = 1 << 2;
const HAS_CHILDREN = 1 << 3;
const COMPLETED = 1 << 4;
const TERMINAL = 1 << 5;
/** The task's state is in memory (created this session, or loaded from disk). */
const LOADED = 1 << 6;
/** The task's `meta` row must be written with the next batch. */
const DIRTY = 1 << 7;
/** The task has more than one parent: `parentRef` names its list in `parentLists`, not a task id. */
const MANY_PARENTS = 1 << 8;
/** The shard holds (or the open batch writes) an error text for the task. */
const ERROR_ROW = 1 << 9;

/**
 * Rows the open batch may hold while the write thread is busy before
 * `needsDrain` says wait (~5 MB). Bigger transactions cost LMDB more page
 * copies (resident memory) and leave more free pages in the file: 400,000
 * here and 200,000 for SEND_ROWS measured 380-405 MB peak and 183-192 B/task
 * for W1 at S = 100,000, against 359-367 MB and 165-176 B/task.
 */
const DRAIN_ROWS = 200_000;

/**
 * Least time (ms) from one batch to the next, unless the open one reached
 * SEND_ROWS: a task's meta row is written again in every batch in which it
 * changed (created, consumed, completed), so batches sent as fast as the
 * thread commits them wrote W1's meta rows 1.67 times each.
 */
const MIN_BATCH_MS = 100;
const SEND_ROWS = 100_000;

/** Worst-case map bytes a row not yet committed may need (page copies included). */
const QUEUED_BYTES_PER_ROW = 64;

/**
 * Room for tasks in the per-task arrays at first. Small on purpose: the
 * first id block outgrows it, so the arrays are replaced once before any of
 * the hot code is optimised. V8 treats a field written only once as a
 * constant, and the first replacement later on (at ~50,000 tasks) made it
 * drop the optimised code of every method that reads them.
 */
const INITIAL_TASKS = 1 << 10;

/** The largest block of ids a session claims at once. */
const MAX_BLOCK = 1 << 22;

/** How long soleAuthor() trusts its last look at the shard's next id. */
const SOLE_CHECK_MS = 50;

/** Parents beyond which an emission's duplicate checks use sets instead of scanning arrays. */
const WIDE = 16;
const NO_IDS: ReadonlySet<number> = new Set();

export class WriterSession {
  /** Scratch for lookups. */
  private readonly scratch = Buffer.alloc(16);
  /** The UDIDs of the emission being recorded, as words (parseUdidWords), parents first. */
  private refWords = new Int32Array(64);
  /** Per reference of that emission: the id this session noted on its lineage object (identity/lineage.ts), or 0. */
  private refIds = new Uint32Array(16);
  /** Scratch (no allocation per emission): the emission's distinct parent ids, the ids it completes, and completion's BFS queue. */
  private parentIds = new Uint32Array(16);
  private toComplete = new Uint32Array(16);
  private queue = new Uint32Array(1024);
  private queued = 0;
  // Per task id: what its meta row holds, and the completion bookkeeping.
  private state = new Uint16Array(INITIAL_TASKS);
  private pending = new Uint32Array(INITIAL_TASKS);
  /** The task's parent (0: none), or with MANY_PARENTS its list of parents in `parentLists`. */
  private parentRef = new Uint32Array(INITIAL_TASKS);
  private root = new Uint32Array(INITIAL_TASKS);
  private stage = new Uint16Array(INITIAL_TASKS);
  private outcomeStage = new Uint16Array(INITIAL_TASKS);
  private completedRun = new Uint32Array(INITIAL_TASKS);
  /** Each task's UDID as four words. */
  private udids = new Int32Array(4 * INITIAL_TASKS);
  /** UDID → id of every task in memory but the unlisted, over `udids`. */
  private readonly index = new SessionIndex(this.udids);
  /**
   * True while every task in memory is a root (isRootLineage) or a child
   * whose path this session knows is new (see newChildren), and the shard
   * held no task at open. New children are then not put in `index` as they
   * are made, which costs a cache miss each in a table of millions, but
   * listed in `unlisted`, and added in one pass before the index is next
   * asked about anything but a root.
   */
  private known: boolean;
  private unlisted = new Uint32Array(1 << 12);
  private unlistedCount = 0;
  private readonly parentLists = new ParentLists();
  /** Error text of failed tasks whose row is yet to be written (or was loaded). */
  private readonly errors = new Map<number, string>();
  private dirty = new Uint32Array(1 << 12);
  private dirtyCount = 0;
  /** Tasks created since the last merge into the `udid` index: id ranges [start, end) as pairs, in id order, and how many. */
  private unindexed: number[] = [];
  private unindexedCount = 0;
  /** Entries of the shard's `udid` index (as of the last merge). */
  private indexedCount: number;
  /** Starts of the id blocks this session claimed that are still listed as unindexed. */
  private ownBlocks: number[] = [];
  /** Set by close(): the next batch indexes everything left and unlists every own block. */
  private closing = false;
  private nextId = 0;
  private blockSize = 1 << 14;
  private endId = 0;
  /** Start of the block ids come from now. */
  private blockStart = 0;
  /** The next block, claimed ahead (by a batch, or while the write thread was idle), so that allocation need not wait for it. */
  private spare: IdBlock | null = null;
  /** A batch in the thread claims the next block. */
  private claimPending = false;
  /**
   * Stage ids as this session numbers them (index 0: no stage). The shard's
   * numbers are looked up when rows are packed, while the write thread is
   * idle: registering a new stage is a synchronous commit, which would
   * otherwise wait for the thread's transaction in the middle of recording.
   */
  private readonly stageIds: string[] = [''];
  private readonly localStages = new Map<string, number>();
  private lastStageId = '';
  private lastLocalStage = 0;
  private readonly shardStages: number[] = [0];
  /** Session stages the shard has no number for yet. */
  private stagesToRegister = 0;
  private batch = new WriteBatch();
  private readonly thread: WriteThread;
  private sendScheduled = false;
  private lastSend = -Infinity;
  /** Sends the open batch once MIN_BATCH_MS have passed since the last. */
  private sendTimer: ReturnType<typeof setTimeout> | null = null;
  private lastSeq = 0;
  private uncommittedRows = 0;
  private drainWaiters: (() => void)[] = [];
  private writeError: unknown = null;
  /** Told once, on the main thread, when a commit fails: a runner stops admitting work at once. */
  onWriteFailure: ((err: unknown) => void) | null = null;
  /** Emissions recorded in this session. */
  emissions = 0;

  /** False when the shard held no task at open: no lookup can hit, so none is made. */
  private readonly diskMayHave: boolean;
  /** The shard's next id at open, and the ids this session claimed since: see soleAuthor(). */
  private readonly nextIdAtOpen: number;
  private claimedIds = 0;
  private sole = false;
  private soleCheckedAt = -Infinity;

  constructor(
    private readonly shard: Shard,
    readonly run: number,
  ) {
    shard.indexOrphanedBlocks();
    this.diskMayHave = shard.hasTasks();
    this.known = !this.diskMayHave;
    this.nextIdAtOpen = nextId(shard);
    this.indexedCount = shard.indexedEstimate();
    this.thread = new WriteThread(shard, () => this.afterCommit());
  }

  /** Returns true when some child is complete once recorded (it existed complete already, or the emission is terminal). */
  recordEmission(rec: EmissionRecord): boolean {
    if ((this.emissions & 4095) === 0) this.checkRoom();
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
    const stage = this.localStage(checkStage(rec.stage));
    // Validate every reference before the first write, so bad input writes nothing.
    const np = parents.length;
    const refs = np + children.length;
    if (this.refWords.length < refs * 4) {
      this.refWords = new Int32Array(refs * 8);
      this.refIds = new Uint32Array(refs * 2);
    }
    const w = this.refWords;
    const u = this.udids;
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
        const digest = lineageDigest(ref);
        if (digest !== null) digestWords(digest, w, i * 4);
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
    const rootOfChildren = this.root[parentIds[0]!]!;
    const terminal = rec.terminal === true;
    let anyComplete = terminal && children.length > 0;
    const origin = this.known && children.length > 0 ? this.newChildren(rec, nParents) : null;

    for (let i = 0; i < children.length; i++) {
      const ref = children[i]!;
      let cid = this.refIds[np + i]!;
      if (cid === 0) {
        if (origin === null || childOrigin(ref) !== origin) cid = this.resolve(np + i, stage, rootOfChildren, terminal ? TERMINAL : 0, ref);
        // Known new; the same object twice in `children` was noted the first time.
        else cid = (i > 0 && lineageNote(ref, this)) || this.createUnlisted(np + i, stage, rootOfChildren, terminal ? TERMINAL : 0);
        noteLineage(ref, this, cid);
      }
      if ((this.state[cid]! & COMPLETED) !== 0) anyComplete = true;
      const known = this.knownParents(cid, nParents);
      for (let j = 0; j < nParents; j++) {
        const pid = parentIds[j]!;
        if (known === null ? this.hasParent(cid, pid) : known.has(pid)) continue;
        this.addParent(cid, pid);
        this.batch.edge(pid, cid);
        this.set(cid, HAS_PARENTS);
        this.set(pid, HAS_CHILDREN);
        if ((this.state[cid]! & COMPLETED) === 0) this.pending[pid]!++;
      }
      if (terminal && (this.state[cid]! & COMPLETED) === 0) {
        this.set(cid, TERMINAL);
        toComplete[nComplete++] = cid;
      }
    }

    const kind = children.length === 0 ? OUTCOME_FILTERED : OUTCOME_EMITTED;
    for (let j = 0; j < nParents; j++) {
      const pid = parentIds[j]!;
      const s = this.state[pid]!;
      // Completion is monotone: a completed task keeps its outcome.
      if ((s & COMPLETED) !== 0 && (s & OUTCOME_MASK) !== 0) continue;
      if ((s & OUTCOME_MASK) !== kind || this.outcomeStage[pid] !== stage) {
        this.state[pid] = (s & ~OUTCOME_MASK) | kind;
        this.outcomeStage[pid] = stage;
        if ((s & OUTCOME_MASK) === OUTCOME_FAILED) this.errors.delete(pid);
        this.markDirty(pid);
      }
      if (kind === OUTCOME_FILTERED || this.pending[pid] === 0) toComplete[nComplete++] = pid;
    }
    for (let j = 0; j < nComplete; j++) this.complete(toComplete[j]!);
    this.emissions++;
    this.scheduleSend();
    return anyComplete;
  }

  /**
   * The origin (childOrigin) of the emission's children when those that
   * share it are new: their paths were made from exactly this emission's
   * parents, and one of the parents has no child yet. With every task in
   * memory a root or such a child (`known`), a task with the same UDID, so
   * the same path, would be a child of an earlier emission of the same
   * parents, which would have given each of them a child. Else null.
   */
  private newChildren(rec: EmissionRecord, nParents: number): readonly string[] | null {
    const origin = childOrigin(rec.children[0]);
    const { parents } = rec;
    if (origin === null || origin.length !== parents.length) return null;
    for (let j = 0; j < origin.length; j++) {
      const p = parents[j]!;
      if (origin[j] !== (typeof p === 'string' ? p : p.udid)) return null;
    }
    for (let j = 0; j < nParents; j++) if ((this.state[this.parentIds[j]!]! & HAS_CHILDREN) === 0) return origin;
    return null;
  }

  /** Makes the emission's `k`-th task (refWords), known to be new, without putting it in `index` yet. */
  private createUnlisted(k: number, stage: number, root: number, bits: number): number {
    const id = this.create(k, stage, root, bits, null);
    if (this.unlistedCount === this.unlisted.length) this.unlisted = grown(this.unlisted);
    this.unlisted[this.unlistedCount++] = id;
    return id;
  }

  /** Puts the unlisted tasks in `index`: in one tight pass, whose cache misses overlap. */
  private listAll(): void {
    const u = this.udids;
    const index = this.index;
    for (let i = 0; i < this.unlistedCount; i++) {
      const id = this.unlisted[i]!;
      const a = u[id * 4]!;
      const found = index.find(a, u[id * 4 + 1]!, u[id * 4 + 2]!, u[id * 4 + 3]!);
      if (found > 0) {
        throw new LineageError(ErrorCodes.INTERNAL, `${this.shard.dir}: tasks ${found} and ${id} of this session have one UDID, a bug in lineage-dag; please report it.`);
      }
      index.addAt(found, a, id);
    }
    this.unlistedCount = 0;
  }

  /** The index, to ask about a root (`root`: the unlisted are children, and no child's UDID is a root's) or, once all are listed, about any task. */
  private listed(root: boolean): SessionIndex {
    if (!root && this.unlistedCount > 0) this.listAll();
    return this.index;
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
    const stage = this.localStage(checkStage(rec.stage));
    if (!parseUdidWords(typeof rec.task === 'string' ? rec.task : rec.task?.udid, this.refWords, 0)) refUdid(rec.task, rec.stage, 'task');
    const id = this.resolve(0, 0, 0, 0, rec.task);
    if ((this.state[id]! & COMPLETED) !== 0) return false;
    const text = typeof rec.error === 'string' ? boundErrorText(rec.error) : errorText(rec.error);
    this.state[id] = (this.state[id]! & ~OUTCOME_MASK) | OUTCOME_FAILED;
    this.outcomeStage[id] = stage;
    this.errors.set(id, text);
    this.markDirty(id);
    this.scheduleSend();
    return true;
  }

  /** True when the task is known complete, including writes not yet committed. `root`: the UDID is a root lineage's (isRootLineage). */
  completedInSession(udid: string, root = false): boolean | undefined {
    const w = this.refWords;
    if (!parseUdidWords(udid, w, 0)) return undefined;
    const id = this.listed(root).getWords(w[0]!, w[1]!, w[2]!, w[3]!);
    return id === 0 ? undefined : (this.state[id]! & COMPLETED) !== 0;
  }

  /**
   * True when every task in the shard is one this session knows: the shard
   * held none at open, and no other process has claimed ids in it since
   * (its next id is checked at most every SOLE_CHECK_MS, as the unindexed
   * list is: another process's commits are seen that much later). A task
   * the session does not know is then in no shard, and the runner's
   * question whether it is complete needs no lookup on disk.
   */
  soleAuthor(): boolean {
    if (this.diskMayHave || this.claimPending) return false;
    const now = performance.now();
    if (now - this.soleCheckedAt > SOLE_CHECK_MS) {
      this.soleCheckedAt = now;
      this.sole = nextId(this.shard) === this.nextIdAtOpen + this.claimedIds;
    }
    return this.sole;
  }

  /** True when the open batch has grown large while the write thread is busy: the caller should `await drain()`. */
  get needsDrain(): boolean {
    return !this.thread.canPost && this.batch.rows + this.dirtyCount >= DRAIN_ROWS;
  }

  /** Waits until the open batch has been handed to the write thread. */
  async drain(): Promise<void> {
    if (this.needsDrain) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    if (this.writeError) throw this.writeError;
  }

  /** Resolves when every write issued so far is committed (visible to readers, and durable). */
  async committed(): Promise<void> {
    while (this.batch.rows > 0 || this.dirtyCount > 0 || this.indexDue() || this.thread.busy) {
      if (this.thread.canPost) this.send(true);
      await this.thread.whenCommitted(this.lastSeq);
      if (this.writeError) break;
    }
    if (this.writeError) throw this.writeError;
  }

  /** From now on the next batch merges every task left into the `udid` index: the session is about to close. */
  finishIndexing(): void {
    this.closing = true;
  }

  /** Commits what is left (the last index merge included) and stops the write thread. */
  async close(): Promise<void> {
    this.closing = true;
    try {
      await this.committed();
    } finally {
      if (this.sendTimer) clearTimeout(this.sendTimer);
      this.sendTimer = null;
      await this.thread.close();
    }
  }

  /**
   * Refuses to write once the map is nearly full: LMDB 0.9 under lmdb-js does
   * not always survive MDB_MAP_FULL, so the limit is enforced here, with room
   * for the rows not yet committed.
   */
  private checkRoom(): void {
    if (this.writeError) throw this.writeError;
    const stats = this.shard.env.getStats() as { pageSize: number; lastPageNumber: number; mapSize: number };
    const queued = (this.uncommittedRows + this.batch.rows + this.dirtyCount + this.unindexedCount) * QUEUED_BYTES_PER_ROW;
    const used = (stats.lastPageNumber + 1) * stats.pageSize + queued;
    const headroom = Math.max(16 * 2 ** 20, stats.mapSize / 8);
    if (used + headroom > stats.mapSize) {
      this.writeError = new LineageError(
        ErrorCodes.MAP_FULL,
        `${this.shard.dir}: the LMDB map (${stats.mapSize} bytes) is nearly full, so recording stopped; what was recorded before is kept. ` +
          'Reopen with a larger mapSize (option or LINEAGE_MAP_SIZE, in bytes) and rerun.',
      );
      throw this.writeError;
    }
  }

  /** Sends the open batch at the end of this event turn, unless the write thread has its fill (then it goes when a batch is done). */
  private scheduleSend(): void {
    if (this.sendScheduled || !this.thread.canPost) return;
    this.sendScheduled = true;
    setImmediate(() => {
      this.sendScheduled = false;
      if (this.thread.canPost) this.sendLater();
    });
  }

  /**
   * A send from a timer: nobody is there to catch what it throws (a damaged
   * shard, a store closed meanwhile), so it is kept for the next call to
   * report, as a write thread's failure is, instead of ending the process.
   */
  private sendLater(): void {
    try {
      this.send();
    } catch (err) {
      this.writeError ??= err instanceof LineageError ? err : new LineageError(ErrorCodes.WRITE_FAILED, `${this.shard.dir}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Writes the dirty tasks' meta rows into the open batch and hands it to the write thread (`now`: without waiting for MIN_BATCH_MS). */
  private send(now = false): void {
    const index = this.indexDue();
    if (this.writeError || (this.batch.rows === 0 && this.dirtyCount === 0 && !index)) return;
    const wait = this.lastSend + MIN_BATCH_MS - performance.now();
    if (!now && !this.closing && wait > 0 && this.batch.rows + this.dirtyCount < SEND_ROWS) {
      this.sendTimer ??= setTimeout(() => {
        this.sendTimer = null;
        if (this.thread.canPost) this.sendLater();
      }, wait);
      return;
    }
    if (this.stagesToRegister > 0) {
      // A new stage id is registered by a synchronous commit: wait until the thread is idle, so that it does not block.
      if (this.thread.busy) return;
      for (let local = 1; local < this.stageIds.length; local++) this.shardStage(local);
    }
    if (index) this.mergeIndex();
    // The next block is claimed as soon as this one is in use: by this batch, or here and now when the thread is idle.
    // Blocks double, so what a session leaves unused stays below twice what it used.
    if (this.spare === null && !this.claimPending && !this.closing && this.endId > 0) {
      if (this.thread.busy) {
        this.batch.claim = this.blockSize;
        this.blockSize = Math.min(this.blockSize * 2, MAX_BLOCK);
        this.claimPending = true;
      } else this.spare = this.claimBlock();
    }
    const dirty = this.dirty.subarray(0, this.dirtyCount).sort();
    for (const id of dirty) {
      this.state[id]! &= ~DIRTY;
      this.writeMeta(id);
    }
    this.dirtyCount = 0;
    const batch = this.batch;
    this.batch = new WriteBatch(batch);
    this.uncommittedRows = batch.rows;
    this.lastSend = performance.now();
    this.lastSeq = this.thread.post(batch);
    if (!this.thread.busy) this.afterCommit(false);
  }

  /** After a batch is committed: reports a failure, and sends what gathered meanwhile (unless `sendMore` is false). */
  private afterCommit(sendMore = true): void {
    if (this.thread.error && !this.writeError) {
      this.writeError = writeFailure(this.shard.dir, this.thread.error);
      this.onWriteFailure?.(this.writeError);
    }
    this.uncommittedRows = 0;
    for (let block = this.thread.claimed.shift(); block; block = this.thread.claimed.shift()) {
      this.claimPending = false;
      this.ownBlock(block);
      this.spare ??= block;
    }
    if (sendMore && !this.writeError && (this.batch.rows > 0 || this.dirtyCount > 0)) this.send();
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** True when the tasks held back from the `udid` index are due to be merged (udid-tail.ts). */
  private indexDue(): boolean {
    return this.closing ? this.ownBlocks.length > 0 : this.unindexedCount >= tailLimit(this.indexedCount);
  }

  /**
   * Has the open batch merge the held-back tasks into the `udid` index (as
   * id ranges: the write thread reads their UDIDs from their `meta` rows)
   * and unlist the own blocks they complete: every block but the one ids
   * still come from, or all of them at close.
   */
  private mergeIndex(): void {
    // The write thread reads the UDIDs from the tasks' meta rows (this batch's included).
    this.batch.merge = this.unindexed;
    this.unindexed = [];
    this.indexedCount += this.unindexedCount;
    this.unindexedCount = 0;
    const open = this.closing ? [] : [this.blockStart, this.spare?.start];
    const done = this.ownBlocks.filter((b) => !open.includes(b));
    // They stay in tail.own: a reader's list may be older than this merge, and the session knows their tasks anyway.
    this.batch.indexed = done;
    this.ownBlocks = this.ownBlocks.filter((b) => open.includes(b));
  }

  private writeMeta(id: number): void {
    const s = this.state[id]!;
    const o = this.batch.meta(id);
    const u = this.udids;
    const outcome = s & OUTCOME_MASK;
    writeTaskRecord(
      this.batch.metaBuffer,
      o,
      u[id * 4]!,
      u[id * 4 + 1]!,
      u[id * 4 + 2]!,
      u[id * 4 + 3]!,
      this.shardStage(this.stage[id]!),
      this.root[id]!,
      ((s & TERMINAL) !== 0 ? FLAG_TERMINAL : 0) | ((s & HAS_PARENTS) !== 0 ? FLAG_HAS_PARENTS : 0) | ((s & HAS_CHILDREN) !== 0 ? FLAG_HAS_CHILDREN : 0),
      outcome,
      outcome === 0 ? 0 : this.shardStage(this.outcomeStage[id]!),
      (s & COMPLETED) !== 0 ? this.completedRun[id]! : 0,
    );
    const error = (s & OUTCOME_MASK) === OUTCOME_FAILED ? this.errors.get(id) : undefined;
    if (error !== undefined) {
      this.batch.error(id, error);
      this.state[id]! |= ERROR_ROW;
    } else if ((s & ERROR_ROW) !== 0) {
      this.batch.error(id, null);
      this.state[id]! &= ~ERROR_ROW;
    }
  }

  /** BFS upward (DESIGN.md §4): a task completes when its last incomplete child does. */
  private complete(start: number): void {
    this.queue[0] = start;
    this.queued = 1;
    for (let i = 0; i < this.queued; i++) {
      const id = this.queue[i]!;
      // A diamond can queue a task twice; its parents must be released once.
      if ((this.state[id]! & COMPLETED) !== 0) continue;
      this.state[id]! |= COMPLETED;
      this.completedRun[id] = this.run;
      this.markDirty(id);
      const first = this.parentRef[id]!;
      if ((this.state[id]! & MANY_PARENTS) === 0) {
        if (first !== 0) this.releaseParent(first);
      } else {
        const lists = this.parentLists;
        for (let n = first; n !== 0; n = lists.next(n)) this.releaseParent(lists.parent(n));
      }
    }
  }

  private releaseParent(pid: number): void {
    // A parent from an earlier session is loaded now; its count already sees this child complete.
    if ((this.state[pid]! & LOADED) === 0) this.loadById(pid);
    else if (this.pending[pid]! > 0) this.pending[pid]!--;
    const s = this.state[pid]!;
    if (this.pending[pid] === 0 && (s & OUTCOME_MASK) === OUTCOME_EMITTED && (s & COMPLETED) === 0) {
      if (this.queued === this.queue.length) this.queue = grown(this.queue);
      this.queue[this.queued++] = pid;
    }
  }

  /** The id of the emission's `k`-th task (refWords), from this session, from disk, or newly created. */
  private resolve(k: number, stage: number, root: number, bits: number, ref: TaskRef): number {
    const w = this.refWords;
    const a = w[k * 4]!;
    const b = w[k * 4 + 1]!;
    const c = w[k * 4 + 2]!;
    const d = w[k * 4 + 3]!;
    const isRoot = isRootLineage(ref);
    const found = this.listed(isRoot).find(a, b, c, d);
    if (found > 0) return found;
    if (this.diskMayHave) {
      const scratch = this.scratch;
      scratch.writeInt32LE(a, 0);
      scratch.writeInt32LE(b, 4);
      scratch.writeInt32LE(c, 8);
      scratch.writeInt32LE(d, 12);
      const onDisk = this.shard.idOf(scratch, true);
      if (onDisk !== undefined) return this.loadById(onDisk);
    }
    if (!isRoot) this.known = false;
    const id = this.create(k, stage, root, bits, ref);
    // Nothing changed the index since the lookup (a task found on disk has returned).
    this.index.addAt(found, a, id);
    return id;
  }

  /** A new task for the emission's `k`-th reference (refWords); `root` 0: it is a root. */
  private create(k: number, stage: number, root: number, bits: number, ref: TaskRef | null): number {
    const w = this.refWords;
    const id = this.allocate();
    const u = this.udids;
    u[id * 4] = w[k * 4]!;
    u[id * 4 + 1] = w[k * 4 + 1]!;
    u[id * 4 + 2] = w[k * 4 + 2]!;
    u[id * 4 + 3] = w[k * 4 + 3]!;
    const isRoot = root === 0;
    this.root[id] = isRoot ? id : root;
    this.stage[id] = stage;
    this.state[id] = LOADED | bits;
    addToRanges(this.unindexed, id);
    this.unindexedCount++;
    this.markDirty(id);
    if (isRoot && typeof ref === 'object' && ref?.sourceKey) this.batch.source(id, ref.sourceKey);
    return id;
  }

  /** Brings a task written by an earlier session into memory. */
  private loadById(id: number): number {
    this.ensureCapacity(id);
    const meta = this.shard.metaOf(id);
    let s = LOADED;
    if (meta) {
      const u = this.udids;
      for (let i = 0; i < 4; i++) u[id * 4 + i] = meta.udid.readInt32LE(i * 4);
      this.index.addAt(this.listed(false).find(u[id * 4]!, u[id * 4 + 1]!, u[id * 4 + 2]!, u[id * 4 + 3]!), u[id * 4]!, id);
      this.root[id] = meta.root;
      this.stage[id] = this.localOfShardStage(meta.stage);
      this.outcomeStage[id] = this.localOfShardStage(meta.outcomeStage);
      this.completedRun[id] = meta.completedRun;
      s |= meta.outcome & OUTCOME_MASK;
      if (meta.completedRun !== 0) s |= COMPLETED;
      if (meta.flags & FLAG_TERMINAL) s |= TERMINAL;
      if (meta.error !== undefined) {
        this.errors.set(id, meta.error);
        s |= ERROR_ROW;
      }
    } else {
      this.root[id] = id;
    }
    const parents = this.shard.parentIds(id);
    if (parents.length > 0) {
      s |= HAS_PARENTS;
      if (parents.length === 1) this.parentRef[id] = parents[0]!;
      else {
        this.parentRef[id] = this.parentLists.of(parents);
        s |= MANY_PARENTS;
      }
    }
    let incomplete = 0;
    const children = this.shard.childIds(id);
    if (children.length > 0) s |= HAS_CHILDREN;
    for (const c of children) {
      const done = (this.state[c]! & LOADED) !== 0 ? (this.state[c]! & COMPLETED) !== 0 : this.shard.completedRun(c) !== undefined;
      if (!done) incomplete++;
    }
    this.pending[id] = incomplete;
    this.state[id] = s;
    return id;
  }

  /** For a wide emission: the child's parents so far as a set (empty for a new child); null: use hasParent. */
  private knownParents(cid: number, incoming: number): ReadonlySet<number> | null {
    if (incoming <= WIDE) return null;
    const first = this.parentRef[cid]!;
    if (first === 0) return NO_IDS;
    return new Set((this.state[cid]! & MANY_PARENTS) !== 0 ? this.parentLists.toArray(first) : [first]);
  }

  private hasParent(cid: number, pid: number): boolean {
    const first = this.parentRef[cid]!;
    return (this.state[cid]! & MANY_PARENTS) === 0 ? first === pid : this.parentLists.has(first, pid);
  }

  private addParent(cid: number, pid: number): void {
    const first = this.parentRef[cid]!;
    if ((this.state[cid]! & MANY_PARENTS) !== 0) this.parentRef[cid] = this.parentLists.add(first, pid);
    else if (first === 0) this.parentRef[cid] = pid;
    else {
      this.parentRef[cid] = this.parentLists.of([first, pid]);
      this.state[cid]! |= MANY_PARENTS;
    }
  }

  /** Sets a bit of the task's state; its row is rewritten when that changes it. */
  private set(id: number, bit: number): void {
    const s = this.state[id]!;
    if ((s & bit) !== 0) return;
    this.state[id] = s | bit;
    this.markDirty(id);
  }

  private markDirty(id: number): void {
    const s = this.state[id]!;
    if ((s & DIRTY) !== 0) return;
    this.state[id] = s | DIRTY;
    if (this.dirtyCount === this.dirty.length) this.dirty = grown(this.dirty);
    this.dirty[this.dirtyCount++] = id;
  }

  private allocate(): number {
    if (this.nextId === this.endId) {
      const block = this.spare ?? this.claimBlock();
      this.spare = null;
      this.blockStart = this.nextId = block.start;
      this.endId = block.end;
      // Sized when the block comes into use, not when it is claimed ahead: the spare may never be.
      this.ensureCapacity(block.end);
    }
    return this.nextId++;
  }

  /**
   * Claims a block of ids: a synchronous commit, which waits for the write
   * thread's transaction when it runs (send() claims ahead, so this is rare).
   * Blocks double up to MAX_BLOCK ids.
   */
  private claimBlock(): { start: number; end: number } {
    const block = this.shard.claimIds(this.blockSize);
    this.blockSize = Math.min(this.blockSize * 2, MAX_BLOCK);
    this.ownBlock(block);
    return block;
  }

  private ownBlock(block: IdBlock): void {
    this.claimedIds += block.end - block.start;
    this.ownBlocks.push(block.start);
    this.shard.tail.claimedHere(block.start);
  }

  /** This session's number for a stage id. */
  private localStage(stageId: string): number {
    // Runs of emissions come from one stage: the last answer spares the Map lookup.
    if (stageId === this.lastStageId) return this.lastLocalStage;
    let n = this.localStages.get(stageId);
    if (n === undefined) {
      n = this.stageIds.length;
      if (n > 0xffff) throw new LineageError(ErrorCodes.INVALID_PIPELINE, `${this.shard.dir}: more than 65535 stage ids.`);
      this.stageIds.push(stageId);
      this.shardStages.push(0);
      this.localStages.set(stageId, n);
      this.stagesToRegister++;
    }
    this.lastStageId = stageId;
    this.lastLocalStage = n;
    return n;
  }

  /** The shard's number for a session stage number, registering the stage id in the shard when it is new there. */
  private shardStage(local: number): number {
    if (local === 0) return 0;
    let n = this.shardStages[local]!;
    if (n === 0) {
      n = this.shard.stageNumber(this.stageIds[local]!);
      this.shardStages[local] = n;
      this.stagesToRegister--;
    }
    return n;
  }

  /** The session number of a stage number read from the shard (a task of an earlier session). */
  private localOfShardStage(n: number): number {
    if (n === 0) return 0;
    const local = this.localStage(this.shard.stageName(n) ?? `#${n}`);
    if (this.shardStages[local] === 0) this.stagesToRegister--;
    this.shardStages[local] = n;
    return local;
  }

  private ensureCapacity(id: number): void {
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

function includes(ids: Uint32Array, count: number, id: number): boolean {
  for (let i = 0; i < count; i++) if (ids[i] === id) return true;
  return false;
}

function grown(a: Uint32Array<ArrayBuffer>): Uint32Array<ArrayBuffer> {
  const bigger = new Uint32Array(a.length * 2);
  bigger.set(a);
  return bigger;
}

/** The first id the shard's next claim gets (info `next_id`, write-worker.js claimIdBlock). */
function nextId(shard: Shard): number {
  const next: unknown = shard.info.get('next_id');
  return typeof next === 'number' ? next : 1;
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
