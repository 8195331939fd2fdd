import fs from 'node:fs';

/**
 * Named points in a window's life where the fault suite kills a worker. Production code calls
 * `reach(point)`; it does nothing unless BARCODES_TEST_STOP_AT names that point, in which case the
 * worker writes a marker file and stops making progress, so the suite can SIGKILL it exactly there.
 */
export type FaultPoint =
  | 'before-select'
  | 'after-render'
  | 'before-smtp'
  | 'after-smtp-accepted'
  /** SFTP: the temporary file is written, not yet renamed to its final name. */
  | 'after-sftp-upload'
  /** A remote destination holds the part; the ledger does not know yet. */
  | 'after-destination-delivered';

export interface FaultPoints {
  reach(point: FaultPoint): Promise<void>;
}

export const noFaultPoints: FaultPoints = { reach: async () => {} };

/**
 * Reads BARCODES_TEST_STOP_AT=<point> and BARCODES_TEST_STOP_MARKER=<file>: at that point the
 * marker file is written (with the point's name) and the activity waits forever.
 */
export function faultPointsFromEnv(env: NodeJS.ProcessEnv = process.env): FaultPoints {
  const point = env.BARCODES_TEST_STOP_AT;
  const marker = env.BARCODES_TEST_STOP_MARKER;
  if (!point || !marker) return noFaultPoints;
  return {
    async reach(reached) {
      if (reached !== point) return;
      fs.writeFileSync(marker, reached);
      await new Promise(() => {});
    },
  };
}
