/**
 * Fakes of the activities' dependencies, typed as the parts of the real classes the activities
 * call (Pick<>), so a test needs neither PostgreSQL nor SMTP nor Temporal, and fakeDeps, which
 * assembles them into ActivityDeps. Each fake records what it was asked, for the test to check.
 * The ledger and mail fakes live in fake-ledger.ts and fake-mail.ts.
 */
import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';
import type { ActivityDeps } from '../../../activities/deps';
import type { Alerter } from '../../../lib/alerts';
import type { ExportInterface, FailureRecord, InterfaceStore } from '../../../lib/interfaces/store';
import type { Mailer } from '../../../lib/mail/mailer';
import type { ScheduleControl } from '../../../lib/schedules/control';
import type { LedgerPart } from './fake-ledger';

export { FakeLedger, frozenDelivery, storedPart, type LedgerPart } from './fake-ledger';
export { FakeAlerter, FakeMailer, type ReceivedMail } from './fake-mail';

/** An interface as the store returns it; `overrides` set what the test is about. */
export function exportInterface(overrides: Partial<ExportInterface> = {}): ExportInterface {
  return {
    id: 42,
    name: 'Acme reseller',
    recipients: ['files@acme.test'],
    intervalSeconds: 900,
    lagSeconds: 30,
    timeZone: 'UTC',
    format: null,
    startAt: new Date('2026-05-01T00:00:00Z'),
    enabled: true,
    alertEmail: 'ops@exporter.test',
    pgpPublicKey: null,
    pgpKey: null,
    contacts: ['C1'],
    channels: [],
    createdAt: new Date('2026-05-01T00:00:00Z'),
    updatedAt: new Date('2026-05-01T00:00:00Z'),
    consecutiveFailures: 0,
    failingSince: null,
    lastFailure: null,
    pausedReason: null,
    configVersion: 1,
    refusedRun: null,
    stateChanges: null,
    destinations: [],
    ...overrides,
  };
}

/**
 * The interface's health as InterfaceStore keeps it in SQL: permanent failures count up, the one
 * that reaches the threshold on an enabled interface disables it with a reason, success resets.
 */
export class FakeInterfaceStore implements Pick<
  InterfaceStore,
  'find' | 'recordPermanentFailure' | 'recordSuccess' | 'sealedDestinations'
> {
  readonly successes: number[] = [];
  constructor(public iface: ExportInterface = exportInterface()) {}

  async find(id: number): Promise<ExportInterface | undefined> {
    return id === this.iface.id ? this.iface : undefined;
  }

  async recordPermanentFailure(
    id: number,
    reason: string,
    pauseThreshold: number,
  ): Promise<FailureRecord | undefined> {
    if (id !== this.iface.id) return undefined;
    const failingSince = this.iface.failingSince ?? new Date();
    const consecutiveFailures = this.iface.consecutiveFailures + 1;
    const pausedNow = this.iface.enabled && consecutiveFailures >= pauseThreshold;
    this.iface = { ...this.iface, consecutiveFailures, failingSince, lastFailure: reason };
    if (pausedNow)
      this.iface = {
        ...this.iface,
        enabled: false,
        pausedReason: `paused itself after ${consecutiveFailures} consecutive failed windows: ${reason}`,
      };
    return { consecutiveFailures, failingSince, pausedNow, iface: this.iface };
  }

  /** Email only: no SFTP or HTTPS destination in these tests. */
  async sealedDestinations(): ReturnType<InterfaceStore['sealedDestinations']> {
    return [];
  }

  async recordSuccess(id: number): Promise<void> {
    this.successes.push(id);
    if (id === this.iface.id)
      this.iface = { ...this.iface, consecutiveFailures: 0, failingSince: null, lastFailure: null };
  }
}

export class FakeScheduleControl implements ScheduleControl {
  readonly realigned: number[] = [];
  async realign(interfaceId: number): Promise<void> {
    this.realigned.push(interfaceId);
  }
  async isRunOpen(): Promise<boolean> {
    return false;
  }
  async close(): Promise<void> {}
}

/** What the activities logged, for tests of "logged, never thrown". */
export class RecordingLogger implements Logger {
  readonly entries: { level: LogLevel; message: string; meta?: LogMetadata }[] = [];
  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    this.entries.push({ level, message, meta });
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
  /** Messages logged at `level`. */
  at(level: LogLevel): string[] {
    return this.entries.filter((entry) => entry.level === level).map((entry) => entry.message);
  }
}

/** The fakes a test may hand in, each as narrow as the activity's use of it. */
export interface FakeParts {
  store?: Pick<InterfaceStore, 'find' | 'recordPermanentFailure' | 'recordSuccess' | 'sealedDestinations'>;
  /** Whether a run that holds a window is still open (claims); default: none is. */
  isRunOpen?: (workflowId: string) => Promise<boolean>;
  ledger?: LedgerPart;
  mailer?: Mailer;
  alerter?: Alerter;
  schedules?: ScheduleControl;
  pauseAfterFailures?: number;
  mailFrom?: string;
}

/**
 * ActivityDeps made of the given fakes. Any other dependency throws when an activity reaches for
 * it, so a test that starts using the database without saying so fails loudly, never silently.
 * The cast is the one place where narrow fakes stand in for the full classes.
 */
export function fakeDeps(parts: FakeParts): ActivityDeps {
  return new Proxy(parts, {
    get(target, key) {
      if (key in target) return target[key as keyof FakeParts];
      // Optional hooks the activities test for with `??`.
      if (key === 'faultPoints' || key === 'deliver' || key === 'secretsKeyring' || key === 'then')
        return undefined;
      throw new Error(`this test did not fake deps.${String(key)}, but the activity used it`);
    },
  }) as unknown as ActivityDeps;
}
