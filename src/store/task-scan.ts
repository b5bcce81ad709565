/**
 * @internal
 * Streams every task of one shard as a merge-join: `meta` and the edge
 * sub-DBs are keyed by task id, so one ascending cursor per sub-DB, advanced
 * in step with `meta`, yields complete TaskInfo records without a lookup per
 * field. Memory stays
 * constant: only the edge targets are looked up (id → UDID). All cursors
 * share one read transaction, so a live writer cannot tear the view.
 */
import { edgeProblem, edgeRange } from './edge-values.js';
import { META_SIZE, type Shard } from './shard.js';
import { FLAG_HAS_CHILDREN, FLAG_HAS_PARENTS, FLAG_TERMINAL, OUTCOME_KINDS, completedRunOf, flagsOf, outcomeOf, outcomeStageOf, rootOf, stageOf, typeOfFlags, udidHexOf, udidOf } from './task-record.js';
import type { Completion, Outcome, TaskInfo } from './types.js';

interface Cursor {
  readonly it: Iterator<{ key: number; value: Buffer }>;
  head: { key: number; value: Buffer } | null;
}

export function* scanShard(shard: Shard, unionCompleted?: (udid: Buffer) => boolean): Generator<TaskInfo> {
  const txn = shard.env.useReadTransaction();
  try {
    const open = (db: { getRange(o: object): Iterable<{ key: number; value: Buffer }> }): Cursor => {
      const it = db.getRange({ transaction: txn })[Symbol.iterator]();
      const first = it.next();
      return { it, head: first.done ? null : first.value };
    };
    // Each edge is a parents row and a children row, written in one transaction: the two
    // sides must count and mix to the same totals, else damage changed one of them.
    const sides = { parents: { n: 0, mix: 0 }, children: { n: 0, mix: 0 } };
    const all = (c: Cursor, id: number, out: string[], side: 'parents' | 'children') => {
      const tally = sides[side];
      while (c.head && c.head.key <= id) {
        if (c.head.key === id) {
          const range = edgeRange(c.head.value, id);
          if (range === null) throw shard.damaged(`the edge rows of task ${id} hold ${edgeProblem(c.head.value)}`);
          for (let other = range[0]; other <= range[1]; other++) {
            out.push(udidHexOfTask(other));
            tally.n++;
            tally.mix = (tally.mix + (side === 'parents' ? edgeMix(id, other) : edgeMix(other, id))) | 0;
          }
        }
        const n = c.it.next();
        c.head = n.done ? null : n.value;
      }
    };
    const udidHexOfTask = (id: number) => {
      const rec = shard.recordOf(id, txn);
      if (!rec) throw shard.damaged(`an edge names task ${id}, which has no record`);
      return udidHexOf(rec, 0);
    };
    const parents = open(shard.parents as never);
    const children = open(shard.children as never);
    const sourceCache = new Map<number, string | null>();
    const completions = new Map<number, Completion>();

    for (const { key: id, value } of shard.metaRows({ transaction: txn })) {
      const udid = udidHexOf(value, 0);
      const ps: string[] = [];
      const cs: string[] = [];
      all(parents, id, ps, 'parents');
      all(children, id, cs, 'children');
      const flags = flagsOf(value, 0);
      if ((ps.length > 0) !== ((flags & FLAG_HAS_PARENTS) !== 0) || (cs.length > 0) !== ((flags & FLAG_HAS_CHILDREN) !== 0)) {
        throw shard.damaged(`task ${id}'s record and its edge rows disagree about whether it has parents and children`);
      }
      const run = completedRunOf(value, 0);
      const kind = outcomeOf(value, 0);
      let outcome: Outcome | null = null;
      if (kind !== 0) {
        const error = value.length > META_SIZE ? value.toString('utf8', META_SIZE) : undefined;
        outcome = { kind: OUTCOME_KINDS[kind] ?? 'failed', stage: shard.stageName(outcomeStageOf(value, 0)) ?? '', ...(error !== undefined ? { error } : {}) };
      }
      let completion: Completion | null = null;
      if (run !== 0) {
        completion = completions.get(run) ?? null;
        if (!completion) {
          completion = { run, runStartedAt: shard.runStartedAt(run), writerId: shard.writerId };
          completions.set(run, completion);
        }
      } else if (unionCompleted?.(udidOf(value, 0))) {
        completion = { run: 0, runStartedAt: '', writerId: '(union of shards)' };
      }
      const root = rootOf(value, 0);
      let sourceKey = sourceCache.get(root);
      if (sourceKey === undefined) {
        if (sourceCache.size > 10_000) sourceCache.clear();
        sourceKey = shard.sourceKeyOf(root, txn) ?? null;
        sourceCache.set(root, sourceKey);
      }
      yield {
        udid,
        parents: ps,
        children: cs,
        taskType: typeOfFlags(flags),
        completed: completion,
        outcome,
        stage: shard.stageName(stageOf(value, 0)),
        sourceKey,
        terminal: (flags & FLAG_TERMINAL) !== 0,
      };
    }
    if (parents.head !== null || children.head !== null || sides.parents.n !== sides.children.n || sides.parents.mix !== sides.children.mix) {
      throw shard.damaged(`its parents rows (${sides.parents.n} edges) and children rows (${sides.children.n}) do not describe the same edges`);
    }
  } finally {
    txn.done();
  }
}

/** An edge child ← parent as a well-mixed 32-bit number, summed order-free per side. */
function edgeMix(child: number, parent: number): number {
  return Math.imul(child ^ Math.imul(parent, 0x85ebca6b), 0x9e3779b1);
}
