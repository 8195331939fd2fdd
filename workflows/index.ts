// Deterministic workflow code only: this folder is bundled into Temporal's workflow sandbox.
import type { BarcodesWorkflows } from './boundary';
import { exportWindow } from './export-window';
import { backfill, resend } from './backfill';

export { exportWindow, backfill, resend };

/**
 * Compile-time only: each workflow has the signature the boundary declares under its name, so a
 * start typed by the boundary (lib/temporal/start.ts) is typed by the code that runs.
 */
export type RegisteredWorkflows = Conforms<{
  exportWindow: typeof exportWindow;
  backfill: typeof backfill;
  resend: typeof resend;
}>;
type Conforms<T extends BarcodesWorkflows> = T;
