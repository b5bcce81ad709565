/**
 * @internal
 * The stateful-stage checkpoints section of `lineage inspect` and `lineage
 * stats`: per stage and writer, the recorded checkpoints, newest first, with
 * when they were recorded and how many inputs each had absorbed.
 */
import type { StageCheckpoints } from '../store/state-checkpoint-log.js';

/** Lines of the section, or none when no stateful stage has a checkpoint. */
export function stateCheckpointLines(stages: readonly StageCheckpoints[]): string[] {
  if (stages.length === 0) return [];
  const lines = ['', 'stateful stage checkpoints (newest first; a resume is offered them in this order)'];
  for (const { stage, writerId, checkpoints } of stages) {
    lines.push(`  ${stage} (writer ${writerId}): ${checkpoints.length} kept`);
    const w = Math.max(...checkpoints.map((c) => String(c.id).length));
    for (const c of checkpoints) lines.push(`    #${String(c.id).padEnd(w)}  ${c.at}  ${c.absorbed} input${c.absorbed === 1 ? '' : 's'} absorbed`);
  }
  return lines;
}
