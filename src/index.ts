export { ErrorCodes, LineageError, isLineageError, type ErrorCode } from './errors/lineage-error.js';
export { InterruptedError, SIGNAL_EXIT_CODES, type SavedWork, type StopSignal } from './errors/interrupted-error.js';
export { rootLineage, childLineage, type Lineage } from './identity/lineage.js';
export { lp, rootPath, childPath, type Slot } from './identity/lineage-path.js';
export { udidOf, isUdid } from './identity/udid.js';
export { LineageStore } from './store/lineage-store.js';
export type { RecordedOutputs } from './store/types.js';
export { FORMAT_VERSION, type Manifest, type StageFingerprint, type AcceptedChange, type Invalidation } from './store/manifest.js';
export type {
  TaskType,
  OutcomeKind,
  Outcome,
  Completion,
  TaskInfo,
  TaskRef,
  EmissionRecord,
  FailureRecord,
  OpenOptions,
  CompletionSnapshot,
} from './store/types.js';
export { computeCompletion, completedSet } from './completion/compute-completion.js';
export { mergeCheckpoint, type MergeOptions, type MergeResult } from './maintenance/merge-checkpoint.js';
export type { Source } from './model/source.js';
export { fileFingerprint, type FileFingerprintOptions } from './model/file-fingerprint.js';
export { Pipeline } from './runner/pipeline.js';
export type { RunOptions } from './runner/run-options.js';
export type { RunReport, RunProgress, StageReport, TaskFailure } from './runner/run-report.js';
export {
  failed,
  isFailed,
  stageFingerprint,
  type Stage,
  type MapStage,
  type BatchStage,
  type StatefulStage,
  type StageResult,
  type TaskContext,
  type BatchContext,
  type FinishContext,
  type Failed,
} from './model/stage.js';
export { isCheckpointable, DEFAULT_KEEP_CHECKPOINTS, type Checkpointable, type CheckpointContext } from './model/checkpointable.js';
export type { StateCheckpoint, StageCheckpoints } from './store/state-checkpoint-log.js';
export { assignChildLineage, type Assigned, type Child, type AssignOptions } from './runner/assign-child-lineage.js';
export { adaptStage, type StageAdapter, type StageCall, type StageTask, type Recorder, type AdapterOptions } from './runner/stage-adapter.js';
export { compareFingerprints, type FingerprintChange } from './planner/fingerprint.js';
export { invalidateStages, type InvalidationSummary } from './maintenance/invalidate.js';
export { invalidateTasks, type InvalidateTargets, type InvalidateTasksSummary } from './maintenance/invalidate-tasks.js';
export { planResume, type ResumePlan, type SourcePlan, type StagePlan, type StatePlan, type Verdict, type VerdictCode, VERDICT_CODES, type OpenTask, type PlanOptions } from './planner/plan-resume.js';
export { explainResume, type Explanation, type PathStep } from './planner/explain-resume.js';
