/**
 * @internal
 * The runner's API as `lineage run` uses it. TEMPORARY: the runner is being
 * written on main; once it lands these become re-exports of src/runner.
 */
export interface Source {
  readonly key: string;
  readonly data?: unknown;
}

export interface StageReport {
  readonly stage: string;
  readonly processed: number;
  readonly emitted: number;
  readonly filtered: number;
  readonly failed: number;
  readonly pruned: number;
}

export interface RunReport {
  readonly checkpoint: string | null;
  readonly run: number;
  readonly elapsedMs: number;
  readonly sources: { readonly read: number; readonly skipped: number };
  readonly stages: StageReport[];
  readonly failed: number;
  readonly failures: { stage: string; udid: string; sourceKey: string; error: string }[];
}

export interface RunProgress {
  readonly elapsedMs: number;
  readonly sourcesRead: number;
  readonly sourcesSkipped: number;
  readonly stages: StageReport[];
}

export interface RunOptions {
  readonly checkpoint?: string;
  readonly writerId?: string;
  readonly concurrency?: number;
  readonly acceptChange?: boolean;
  readonly onProgress?: (p: RunProgress) => void;
  readonly progressIntervalMs?: number;
}

export interface Pipeline {
  readonly stages: readonly { readonly id: string }[];
  run(sources: Iterable<Source> | AsyncIterable<Source>, options?: RunOptions): Promise<RunReport>;
}
