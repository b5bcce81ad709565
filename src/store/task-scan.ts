/**
 * @internal
 * Streams every task of one shard as a merge-join: all sub-DBs are keyed by
 * task id, so one ascending cursor per sub-DB, advanced in step with `meta`,
 * yields complete TaskInfo records without a lookup per field. Memory stays
 * constant: only the edge targets are looked up (id → UDID). All cursors
 * share one read transaction, so a live writer cannot tear the view.
 */
import { OUTCOME_KINDS, TASK_TYPES, type Shard } from './shard.js';
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
    const advance = (c: Cursor, id: number) => {
      while (c.head && c.head.key < id) {
        const n = c.it.next();
        c.head = n.done ? null : n.value;
      }
      return c.head && c.head.key === id ? c.head.value : undefined;
    };
    const all = (c: Cursor, id: number, out: string[]) => {
      while (c.head && c.head.key <= id) {
        if (c.head.key === id) out.push(udidOf(c.head.value.readUInt32BE(0)));
        const n = c.it.next();
        c.head = n.done ? null : n.value;
      }
    };
    // lmdb-js accepts a transaction here although its typings omit the argument.
    const getFast = shard.meta.getBinaryFast as unknown as (id: number, o: object) => Buffer | undefined;
    const udidOf = (id: number) => getFast.call(shard.meta, id, { transaction: txn })?.toString('hex', 0, 16) ?? '';
    const parents = open(shard.parents as never);
    const children = open(shard.children as never);
    const types = open(shard.taskType as never);
    const completed = open(shard.completed as never);
    const outcomes = open(shard.outcome as never);
    const sourceCache = new Map<number, string | null>();
    const completions = new Map<number, Completion>();

    for (const { key: id, value } of shard.meta.getRange({ transaction: txn }) as Iterable<{ key: number; value: Buffer }>) {
      const udid = value.toString('hex', 0, 16);
      const ps: string[] = [];
      const cs: string[] = [];
      all(parents, id, ps);
      all(children, id, cs);
      const type = advance(types, id);
      const run = advance(completed, id)?.readUInt32LE(0);
      const o = advance(outcomes, id);
      let outcome: Outcome | null = null;
      if (o) {
        const error = o.length > 3 ? o.toString('utf8', 3) : undefined;
        outcome = { kind: OUTCOME_KINDS[o[0]!] ?? 'failed', stage: shard.stageName(o.readUInt16LE(1)) ?? '', ...(error !== undefined ? { error } : {}) };
      }
      let completion: Completion | null = null;
      if (run !== undefined) {
        completion = completions.get(run) ?? null;
        if (!completion) {
          completion = { run, runStartedAt: shard.run(run)?.startedAt ?? '', writerId: shard.writerId };
          completions.set(run, completion);
        }
      } else if (unionCompleted?.(value.subarray(0, 16))) {
        completion = { run: 0, runStartedAt: '', writerId: '(union of shards)' };
      }
      const root = value.readUInt32LE(18);
      let sourceKey = sourceCache.get(root);
      if (sourceKey === undefined) {
        if (sourceCache.size > 10_000) sourceCache.clear();
        sourceKey = shard.sources.get(root, { transaction: txn } as never) ?? null;
        sourceCache.set(root, sourceKey);
      }
      yield {
        udid,
        parents: ps,
        children: cs,
        taskType: TASK_TYPES[type?.[0] ?? (ps.length > 0 ? 2 : 0) | (cs.length > 0 ? 1 : 0)]!,
        completed: completion,
        outcome,
        stage: shard.stageName(value.readUInt16LE(16)),
        sourceKey,
        terminal: (value[22]! & 1) !== 0,
      };
    }
  } finally {
    txn.done();
  }
}
