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
 * From version 3 on, the input names the deployment and configuration version it was written
 * from (the worker refuses a run made from another), and a run that fails marks itself failed in
 * the UI's search attributes even before it reached a window. From version 4 on, the run is one
 * activity (exportWindows: freeze then send) and one search-attribute update at its end: 12 history
 * events for an ordinary window instead of 19 (docs/performance.md, "A cheaper run"). From version
 * 5 on, a failed run records its outcome first and then shows the window it held (found by its
 * claim) with its status in the UI, still in one search-attribute update: the same events.
 */
export const EXPORT_WINDOW_INPUT_VERSION = 5;

export interface ExportWindowInput {
  interfaceId: number;
  /** Absent: version 1. */
  version?: number;
  /** The deployment whose schedule made the run (version 3 on). */
  deploymentId?: string;
  /** The interface's configuration version the schedule was written from (version 3 on). */
  configVersion?: number;
}
