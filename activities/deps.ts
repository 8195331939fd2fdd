import type pg from 'pg';
import type { Alerter } from '../lib/alerts';
import type { FaultPoints } from '../lib/fault-points';
import type { InterfaceStore } from '../lib/interfaces/store';
import type { DeliveryLedger } from '../lib/ledger/ledger';
import type { Mailer } from '../lib/mail/mailer';
import type { ScheduleControl } from '../lib/schedules/control';
import type { TicketSource } from '../lib/source/ticket-source';
import type { StateChangeSource } from '../lib/source/state-changes';
import type { DeliverPart } from '../lib/destinations';
import type { SecretsKeyring } from '../lib/destinations/secret-box';

/** What the activities need, built by the worker (worker/dependencies.ts) or by a test. */
export interface ActivityDeps {
  /** Pool on the exporter's database (ledger, interfaces). */
  exporterPool: pg.Pool;
  store: InterfaceStore;
  ledger: DeliveryLedger;
  source: TicketSource;
  /** The change log, for interfaces with state changes on. */
  stateChangeSource: StateChangeSource;
  mailer: Mailer;
  /** Sender address. */
  mailFrom: string;
  /** Bound on holding a window back for an open source transaction. */
  maxHoldbackMillis: number;
  /** Consecutive permanently failed windows after which an interface pauses itself. */
  pauseAfterFailures: number;
  /** Operator alerts (self-pause, refused recipients). */
  alerter: Alerter;
  /** Puts an interface's schedule in line with the database (self-pause, refused runs). */
  schedules: ScheduleControl;
  /** This deployment's id (read once from the exporter's database). */
  deploymentId(): Promise<string>;
  /** Whether a workflow run is still open in Temporal: a window's claim outlives a dead run only. */
  isRunOpen(workflowId: string): Promise<boolean>;
  /** Sends a part to an SFTP or HTTPS destination (lib/destinations). */
  deliver?: DeliverPart;
  /** Opens the stored destination secrets; undefined when BARCODES_SECRETS_KEY is not set. */
  secretsKeyring?: () => SecretsKeyring | undefined;
  /** Where the fault suite may stop a worker (no-op in production). */
  faultPoints?: FaultPoints;
}
