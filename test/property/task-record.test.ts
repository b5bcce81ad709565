import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as record from '../../src/store/task-record.js';

describe('the task record codec', () => {
  it('reads back every field it wrote, at any offset, leaving the bytes around the record alone', () => {
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    const u16 = fc.integer({ min: 0, max: 0xffff });
    fc.assert(
      fc.property(
        fc.tuple(u32, u32, u32, u32),
        u16,
        fc.integer({ min: 1, max: 0xffffffff }),
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 0, max: 3 }),
        u16,
        u32,
        fc.integer({ min: 0, max: 64 }),
        ([u0, u1, u2, u3], stage, root, flags, outcome, outcomeStage, run, at) => {
          const b = Buffer.alloc(at + record.TASK_RECORD_SIZE + 8, 0xa5);
          record.writeTaskRecord(b, at, u0, u1, u2, u3, stage, root, flags, outcome, outcomeStage, run);
          const udid = Buffer.alloc(16);
          [u0, u1, u2, u3].forEach((w, i) => udid.writeUInt32LE(w, 4 * i));
          expect(Buffer.compare(record.udidOf(b, at), udid)).toBe(0);
          expect(record.udidHexOf(b, at)).toBe(udid.toString('hex'));
          expect([record.stageOf(b, at), record.rootOf(b, at), record.flagsOf(b, at)]).toEqual([stage, root, flags]);
          expect([record.outcomeOf(b, at), record.outcomeStageOf(b, at), record.completedRunOf(b, at)]).toEqual([outcome, outcomeStage, run]);
          expect(record.isPresent(b, at)).toBe(true);
          expect(b.subarray(0, at).every((x) => x === 0xa5)).toBe(true);
          expect(b.subarray(at + record.TASK_RECORD_SIZE).every((x) => x === 0xa5)).toBe(true);

          record.setCompletedRun(b, at, 0);
          record.clearOutcome(b, at);
          record.setFlags(b, at, flags ^ record.FLAG_TERMINAL);
          expect([record.completedRunOf(b, at), record.outcomeOf(b, at), record.outcomeStageOf(b, at)]).toEqual([0, 0, 0]);
          expect(record.flagsOf(b, at)).toBe(flags ^ record.FLAG_TERMINAL);
          expect([record.stageOf(b, at), record.rootOf(b, at)]).toEqual([stage, root]);
        },
      ),
    );
  });

  it('calls a record with root 0 absent, and names the type from the edge flags', () => {
    const b = Buffer.alloc(record.TASK_RECORD_SIZE);
    expect(record.isPresent(b, 0)).toBe(false);
    expect(record.typeOfFlags(0)).toBe('source_leaf');
    expect(record.typeOfFlags(record.FLAG_HAS_CHILDREN)).toBe('source');
    expect(record.typeOfFlags(record.FLAG_HAS_PARENTS | record.FLAG_TERMINAL)).toBe('leaf');
    expect(record.typeOfFlags(record.FLAG_HAS_PARENTS | record.FLAG_HAS_CHILDREN)).toBe('middle');
  });
});
