/**
 * Step 1 of the adapter contract (docs/design.md §5): normalise what a stage
 * returned and give every child its lineage. Pure: no I/O, same answer for
 * the same arguments, so any executor can call it.
 */
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { childLineageAt, madeUdid, type Lineage } from '../identity/lineage.js';
import { emissionPrefix } from '../identity/lineage-path.js';
import { isFailed, type StageResult } from '../model/stage.js';
import { Task } from './task.js';

export interface Child<Out = unknown> {
  readonly data: Out;
  readonly lineage: Lineage;
}

export type Assigned<Out = unknown> =
  | { readonly kind: 'children'; readonly children: readonly Child<Out>[] }
  | { readonly kind: 'filtered' }
  | { readonly kind: 'failed'; readonly reason: string };

export interface AssignOptions<Out> {
  /** Stable key per child (see `Stage.key`); undefined keeps the index slot. */
  readonly key?: (child: Out, index: number) => string | undefined;
}

/**
 * @example
 * const out = assignChildLineage('split', [rootLineage('part-0.jsonl')], ['a', 'b']);
 * // out.kind === 'children'; out.children[1].lineage.udid names chunk 'b'
 */
export function assignChildLineage<Out>(
  stageId: string,
  parents: readonly Lineage[],
  result: StageResult<Out>,
  options: AssignOptions<Out> = {},
): Assigned<Out> {
  if (isFailed(result)) return { kind: 'failed', reason: result.reason };
  if (result === null || result === undefined) return { kind: 'filtered' };
  const list = (Array.isArray(result) ? result : [result]) as readonly Out[];
  if (list.length === 0) return { kind: 'filtered' };
  if (parents.length === 0) {
    throw new LineageError(ErrorCodes.INVALID_ARGUMENT, `assignChildLineage: stage "${stageId}" emitted children but was given no parents.`);
  }
  // The children's origin too (childOrigin): this array is not changed after.
  const udids = parents.map((p) => p.udid);
  // Checked and sorted once for all the children; the pipeline's own lineages need no check.
  const prefix = emissionPrefix(stageId, udids, parents.every((p) => madeUdid(p) !== null));
  const sourceKey = sourceOf(parents);
  const keys = options.key ? new Set<string>() : null;
  const children = list.map((data, i) => {
    const key = options.key?.(data, i);
    if (key !== undefined && keys) {
      if (keys.has(key)) {
        throw new LineageError(
          ErrorCodes.INVALID_ARGUMENT,
          `stage "${stageId}" gave two children the key ${JSON.stringify(key)} in one emission; child keys must be unique, ` +
            'or they would share one identity.',
        );
      }
      keys.add(key);
    }
    return new Task(data, childLineageAt(prefix, key === undefined ? i : { key }, sourceKey, udids));
  });
  return { kind: 'children', children };
}

/** The children's source: the parents' common source, else that of the parent with the smallest UDID (deterministic). */
export function sourceOf(parents: readonly Lineage[]): string {
  let first = parents[0]!;
  let same = true;
  for (const p of parents) {
    if (p.sourceKey !== first.sourceKey) same = false;
    if (p.udid < first.udid) first = p;
  }
  return same ? parents[0]!.sourceKey : first.sourceKey;
}
