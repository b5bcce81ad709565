/**
 * @internal
 * The proof that an emission's children are new, and the tasks it lets a
 * writer session keep out of its UDID table. While every task in memory is a
 * root (isRootLineage) or a child this proof showed new, and the shard held
 * no task at open (`known`), new children are not put in the table as they
 * are made, which costs a cache miss each in a table of millions, but listed
 * here, and added in one pass before the table is next asked about anything
 * but a root. In a first run of a pipeline, that is never.
 */
import { ErrorCodes, LineageError } from '../../errors/lineage-error.js';
import { childOrigin } from '../../identity/lineage.js';
import type { EmissionRecord } from '../types.js';
import type { SessionIndex } from './session-index.js';
import { HAS_CHILDREN, grown, type TaskState } from './task-state.js';

export class NewChildren {
  private unlisted = new Uint32Array(1 << 12);
  private unlistedCount = 0;

  constructor(
    private readonly tasks: TaskState,
    /** See the top of this file; the session clears it when it creates a task that is neither a root nor proved new. */
    public known: boolean,
    private readonly dir: string,
  ) {}

  /**
   * The origin (childOrigin) of the emission's children when those that
   * share it are new: their paths were made from exactly this emission's
   * parents, and one of the parents (`parentIds`, the first `nParents`) has
   * no child yet. With every task in memory a root or such a child
   * (`known`), a task with the same UDID, so the same path, would be a child
   * of an earlier emission of the same parents, which would have given each
   * of them a child. Else null.
   */
  origin(rec: EmissionRecord, parentIds: Uint32Array, nParents: number): readonly string[] | null {
    if (!this.known || rec.children.length === 0) return null;
    const origin = childOrigin(rec.children[0]);
    const { parents } = rec;
    if (origin === null || origin.length !== parents.length) return null;
    for (let j = 0; j < origin.length; j++) {
      const p = parents[j]!;
      if (origin[j] !== (typeof p === 'string' ? p : p.udid)) return null;
    }
    const state = this.tasks.state;
    for (let j = 0; j < nParents; j++) if ((state[parentIds[j]!]! & HAS_CHILDREN) === 0) return origin;
    return null;
  }

  /** Holds back task `id`, just made for a child known new, from the table. */
  hold(id: number): void {
    if (this.unlistedCount === this.unlisted.length) this.unlisted = grown(this.unlisted);
    this.unlisted[this.unlistedCount++] = id;
  }

  /** The table, to ask about a root (`root`: the held-back are children, and no child's UDID is a root's) or, once all are listed, about any task. */
  listed(root: boolean): SessionIndex {
    if (!root && this.unlistedCount > 0) this.listAll();
    return this.tasks.index;
  }

  /** Puts the held-back tasks in the table: in one tight pass, whose cache misses overlap. */
  private listAll(): void {
    const u = this.tasks.udids;
    const index = this.tasks.index;
    for (let i = 0; i < this.unlistedCount; i++) {
      const id = this.unlisted[i]!;
      const a = u[id * 4]!;
      const found = index.find(a, u[id * 4 + 1]!, u[id * 4 + 2]!, u[id * 4 + 3]!);
      if (found > 0) {
        throw new LineageError(ErrorCodes.INTERNAL, `${this.dir}: tasks ${found} and ${id} of this session have one UDID, a bug in lineage-dag; please report it.`);
      }
      index.addAt(found, a, id);
    }
    this.unlistedCount = 0;
  }
}
