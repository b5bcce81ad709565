/**
 * @internal
 * A task as the runner passes it from stage to stage: its data and its
 * lineage. A class, not an object literal: V8 tracks the objects a literal
 * makes and, when nearly all of them outlive a young-generation GC (as tasks
 * in flight do while a pipeline fills up), allocates all later ones straight
 * in the old generation. In about half of the W1 runs that happened to the
 * runner's tasks; they then kept their lineages alive until a full GC
 * (330 MB promoted instead of 65, and 1-2 s of wall time). Objects made by
 * `new` are not pretenured that way. V8-specific: docs/performance.md#task-class.
 */
import type { Lineage } from '../identity/lineage.js';

export class Task<T = unknown> {
  constructor(
    readonly data: T,
    readonly lineage: Lineage,
  ) {}
}
