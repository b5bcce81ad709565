export { ErrorCodes, LineageError, isLineageError, type ErrorCode } from './errors/lineage-error.js';
export { rootLineage, childLineage, type Lineage } from './identity/lineage.js';
export { lp, rootPath, childPath, type Slot } from './identity/lineage-path.js';
export { udidOf, isUdid } from './identity/udid.js';
export { LineageStore } from './store/lineage-store.js';
export { FORMAT_VERSION, type Manifest, type StageFingerprint, type AcceptedChange } from './store/manifest.js';
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
} from './store/types.js';
export { computeCompletion, completedSet, type CompletionSnapshot } from './completion/batch-completion.js';
export { mergeCheckpoint, type MergeOptions, type MergeResult } from './store/merge-checkpoint.js';
