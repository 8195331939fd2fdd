/** The input of exportWindow, in a module of its own: schedules (client code) write it too. */

/**
 * Version of the input that schedules written by this release give (lib/schedules/sync.ts). From
 * version 2 on, freezeWindow and sendDelivery record a delivered or empty window themselves
 * (watermark metric, end of a run of failures), so a successful run needs no recordWindowOutcome:
 * one activity less per run, about a quarter of the Temporal server's work for a small window
 * (docs/performance.md, fan-out). A run without it (an older schedule, a run in flight across an
 * upgrade, a recorded history) keeps the version 1 steps. The input versions the workflow instead
 * of patched(), whose marker and TemporalChangeVersion search attribute would cost every run a
 * history event and a visibility update, and whose marker the payload codec cannot encrypt.
 */
export const EXPORT_WINDOW_INPUT_VERSION = 2;

export interface ExportWindowInput {
  interfaceId: number;
  /** Absent: version 1. */
  version?: number;
}
