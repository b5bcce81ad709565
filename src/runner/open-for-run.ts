/**
 * Opens the checkpoint a run writes to, after the checks that must pass
 * before anything executes: no `resumable: false` stage (unless it
 * checkpoints its state), no arrival-order batch or stateful stage in
 * source-counter mode, and the pipeline fingerprint. When the
 * fingerprint changed, completion that depended on the first changed stage
 * or a later one is voided (see `invalidateStages`), unless the caller
 * accepts the change as cosmetic; the manifest records either way.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { invalidateStages } from '../maintenance/invalidate.js';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { compareFingerprints, formatFingerprint } from '../planner/fingerprint.js';
import { LineageStore } from '../store/lineage-store.js';
import { checkWriterId } from '../store/open-checkpoint.js';
import { MANIFEST_FILE, readManifest, type Manifest, type StageFingerprint } from '../store/manifest.js';
import { isCheckpointable } from '../model/checkpointable.js';
import { isBatchStage, isStatefulStage, stageFingerprint, type Stage } from '../model/stage.js';

export interface OpenedRun {
  readonly store: LineageStore;
  /** True when the run opened the store itself (and closes it). */
  readonly owned: boolean;
  readonly dir: string;
  /** Checkpoint ids of stateful stages (by stage id) in this writer's shard that a pipeline change voided: to expire. */
  readonly voidedCheckpoints: ReadonlyMap<string, readonly number[]>;
}

interface Options {
  readonly writerId?: string;
  readonly mode?: 'dag' | 'sources';
  readonly acceptChange?: boolean;
}

export async function openForRun(stages: readonly Stage[], checkpoint: string | LineageStore, options: Options): Promise<OpenedRun> {
  const where = typeof checkpoint === 'string' ? resolve(checkpoint) : checkpoint.dir;
  // Every check that can refuse the run comes before anything is written.
  assertResumable(stages, where);
  if (options.writerId !== undefined) checkWriterId(options.writerId);
  if (options.mode !== undefined && options.mode !== 'dag' && options.mode !== 'sources') {
    throw new LineageError(ErrorCodes.INVALID_ARGUMENT, `Pipeline.run: mode must be "dag" or "sources", got ${JSON.stringify(options.mode)}.`);
  }
  if (options.mode === 'sources') assertAttributable(stages, where);
  const current = stageFingerprint(stages);
  let store: LineageStore;
  let owned = false;
  const voidedCheckpoints = new Map<string, number[]>();
  if (typeof checkpoint === 'string') {
    if (existsSync(join(checkpoint, MANIFEST_FILE))) {
      const manifest = readManifest(checkpoint);
      if (options.mode !== undefined && manifest.mode !== options.mode) {
        throw new LineageError(
          ErrorCodes.MODE_MISMATCH,
          `the checkpoint ${where} is in ${manifest.mode} mode, but the run asked for ${options.mode} mode; the mode is fixed when a checkpoint is created. ` +
            'Drop the mode option, or use a new checkpoint directory.',
        );
      }
      if (manifest.mode === 'sources') assertAttributable(stages, where);
      const change = manifest.fingerprint ? compareFingerprints(manifest.fingerprint, current) : null;
      if (change && change.firstChanged >= 0 && options.acceptChange !== true) {
        const summary = await invalidateStages(checkpoint, change.kept);
        const writerId = options.writerId ?? process.env.LINEAGE_WRITER_ID ?? 'main';
        for (const c of summary.checkpointsDropped) if (c.writerId === writerId) voidedCheckpoints.set(c.stage, c.ids);
      }
    }
    store = await LineageStore.open(checkpoint, {
      ...(options.writerId !== undefined ? { writerId: options.writerId } : {}),
      ...(options.mode !== undefined ? { mode: options.mode } : {}),
    });
    owned = true;
  } else {
    store = checkpoint;
    if (store.readOnly) {
      throw new LineageError(ErrorCodes.READ_ONLY, `Pipeline.run: the store for ${store.dir} is open read-only; open it for writing, or pass its path.`);
    }
    const stored = store.manifest.fingerprint;
    if (stored && compareFingerprints(stored, current).firstChanged >= 0 && options.acceptChange !== true) {
      throw new LineageError(
        ErrorCodes.INVALID_PIPELINE,
        `the checkpoint ${store.dir} was written by the pipeline ${formatFingerprint(stored)}, not ${formatFingerprint(current)}. ` +
          'Pass the checkpoint path instead of an open store so the run can void the changed stages, or pass acceptChange: true if the change is cosmetic.',
      );
    }
  }
  try {
    if (store.mode === 'sources') assertAttributable(stages, store.dir);
    store.updateManifest(manifestPatch(store.manifest, current, options.acceptChange === true));
  } catch (err) {
    if (owned) await store.close();
    throw err;
  }
  return { store, owned, dir: store.dir, voidedCheckpoints };
}

function manifestPatch(manifest: Manifest, current: StageFingerprint[], accept: boolean): Partial<Manifest> {
  const stored = manifest.fingerprint;
  if (!stored || !accept || compareFingerprints(stored, current).firstChanged < 0) return { fingerprint: current };
  return { fingerprint: current, acceptedChanges: [...manifest.acceptedChanges, { from: stored, to: current, at: new Date().toISOString() }] };
}

function assertResumable(stages: readonly Stage[], dir: string): void {
  // A stage whose state is checkpointed resumes from its checkpoint: nothing to refuse.
  const refused = stages.filter((s) => s.resumable === false && !isCheckpointable(s));
  if (refused.length === 0) return;
  const names = refused.map((s) => `"${s.id}"`).join(', ');
  throw new LineageError(
    ErrorCodes.STAGE_NOT_RESUMABLE,
    `stage${refused.length > 1 ? 's' : ''} ${names} declare${refused.length > 1 ? '' : 's'} resumable: false, so a run with the checkpoint ${dir} ` +
      'could not resume them correctly. Run without a checkpoint, or make the stage resumable (attributable outputs, or checkpointed state).',
  );
}

function assertAttributable(stages: readonly Stage[], dir: string): void {
  const mixed = stages.filter((s) => isBatchStage(s) && s.batchSize !== undefined);
  if (mixed.length > 0) {
    throw new LineageError(
      ErrorCodes.NOT_ATTRIBUTABLE,
      `stage${mixed.length > 1 ? 's' : ''} ${mixed.map((s) => `"${s.id}"`).join(', ')} batch tasks in arrival order, which can mix sources; ` +
        `the checkpoint ${dir} is in source-counter mode and can only count per source. Use groupBy: 'source' there, or a DAG-mode checkpoint.`,
    );
  }
  const stateful = stages.filter((s) => isStatefulStage(s));
  if (stateful.length > 0) {
    throw new LineageError(
      ErrorCodes.NOT_ATTRIBUTABLE,
      `stage${stateful.length > 1 ? 's' : ''} ${stateful.map((s) => `"${s.id}"`).join(', ')} ${stateful.length > 1 ? 'are' : 'is a'} stateful stage${stateful.length > 1 ? 's' : ''}: ` +
        `${stateful.length > 1 ? 'their outputs fan in' : 'its output fans in'} every input, of every source, but the checkpoint ${dir} is in source-counter mode ` +
        'and can only count per source. Use a DAG-mode checkpoint (a new directory).',
    );
  }
}
