// Deterministic workflow code only: this folder is bundled into Temporal's workflow sandbox.
export { exportWindow } from './export-window';
export { backfill, resend } from './backfill';
