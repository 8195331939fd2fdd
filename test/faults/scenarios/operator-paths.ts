import { randomInt } from 'node:crypto';
import { sleep } from '../../../devstack/log';
import { barcodes, cliEnv } from '../../support/cli';
import type { FaultStack, ScenarioInterface } from '../fault-stack';
import { SalesWriter } from '../sales-writer';
import { byMode, randomSaleOver, scenarioRow, withFaultStack, type Scenario } from '../scenario';

const SETTINGS = {
  quick: { rounds: 6, workers: 1, settleMillis: 120_000 },
  full: { rounds: 30, workers: 2, settleMillis: 300_000 },
};

/**
 * What operators do every day, all at once, while sales go on: `barcodes run` from several shells
 * and the Temporal UI's Trigger button (allow-all overlap) on busy interfaces, a disabled
 * interface unpaused and triggered in the UI, and interface commands racing each other. Proves:
 * exactly once, no window opened while its interface was disabled, schedules equal to the database.
 */
export const operatorPaths: Scenario = {
  name: 'operator-paths',
  summary:
    'concurrent `run`s and UI triggers, UI unpause/trigger of a disabled interface, racing interface commands; still exactly once',
  quick: true,
  run: (context) =>
    withFaultStack(context, { name: 'operator-paths' }, async (stack) => {
      const settings = byMode(context.mode, SETTINGS);
      const startedAt = Date.now();
      for (let index = 0; index < settings.workers; index++) await stack.startWorker(`worker${index + 1}`);
      const busy = await stack.createInterface({
        label: 'busy',
        contacts: ['C-1001'],
        channels: ['WEB'],
        intervalSeconds: 3,
      });
      const toggled = await stack.createInterface({
        label: 'toggled',
        channels: ['AGENCY', 'WEB'],
        intervalSeconds: 2,
      });
      const raced = await stack.createInterface({
        label: 'raced',
        contacts: ['C-1002'],
        channels: ['BOX'],
        intervalSeconds: 4,
      });
      const interfaces = [busy, toggled, raced];
      const writer = new SalesWriter({
        pool: stack.salesPool,
        schema: stack.schema,
        nextSale: randomSaleOver([null, 'C-1001', 'C-1002'], ['WEB', 'AGENCY', 'BOX']),
        concurrency: 3,
        ordersPerTransaction: [1, 2],
        pauseMillis: [50, 300],
        longShare: 0.05,
        longHoldMillis: [1_000, 4_000],
        rollbackShare: 0.1,
      }).start();
      const env = cliEnv(stack.stack.config);
      const disabledPeriods: { from: Date; to: Date }[] = [];
      const problems: string[] = [];
      for (let round = 0; round < settings.rounds; round++) {
        await Promise.all([
          runsAndTriggers(stack, env, busy),
          disabledButTriggered(stack, env, toggled, disabledPeriods),
          racingCommands(env, raced),
        ]);
      }
      const sales = await writer.stop();
      problems.push(...(await windowsOpenedWhileDisabled(stack, toggled, disabledPeriods)));
      problems.push(...(await scheduleDrift(env)));
      // The races may end on a disable (the last command wins, by design) and a long interval:
      // what an operator does afterwards, so the settling runs deliver the rest.
      await barcodes(['interface', 'enable', String(raced.id)], env);
      await barcodes(['interface', 'update', String(raced.id), '--every', '4s'], env);
      await stack.settle(interfaces, settings.settleMillis);
      return [
        await scenarioRow(stack, 'operator paths', interfaces, startedAt, {
          sales,
          problems,
          notes: [
            `${settings.rounds} rounds of: 3 concurrent \`run\`s + 2 UI triggers; disable, UI unpause + trigger, enable; 6 racing interface commands`,
          ],
        }),
      ];
    }),
};

/** Three `barcodes run` from three shells and two presses of the UI's Trigger button, at once. */
async function runsAndTriggers(
  stack: FaultStack,
  env: NodeJS.ProcessEnv,
  iface: ScenarioInterface,
): Promise<void> {
  const handle = stack.stack.client.schedule.getHandle(stack.stack.scheduleId(iface.id));
  await Promise.all([
    ...[0, 1, 2].map(() => barcodes(['run', String(iface.id), '--timeout', '60s'], env)),
    handle.trigger(),
    sleep(1_100).then(() => handle.trigger()),
  ]);
}

/** Disables the interface, then does what a UI user does to it: Unpause and Trigger; enables it again. */
async function disabledButTriggered(
  stack: FaultStack,
  env: NodeJS.ProcessEnv,
  iface: ScenarioInterface,
  periods: { from: Date; to: Date }[],
): Promise<void> {
  const handle = stack.stack.client.schedule.getHandle(stack.stack.scheduleId(iface.id));
  await barcodes(['interface', 'disable', String(iface.id)], env);
  const from = await databaseNow(stack);
  await handle.unpause('pressed in the UI');
  await handle.trigger();
  await sleep(2_500 + randomInt(1_000));
  await handle.trigger();
  await sleep(1_500);
  const to = await databaseNow(stack);
  periods.push({ from, to });
  await barcodes(['interface', 'enable', String(iface.id)], env);
}

/** Interface commands from several shells at once: the schedule must end equal to the database. */
async function racingCommands(env: NodeJS.ProcessEnv, iface: ScenarioInterface): Promise<void> {
  const id = String(iface.id);
  const commands = [
    ['interface', 'update', id, '--every', `${2 + randomInt(4)}s`],
    ['interface', 'disable', id],
    ['interface', 'enable', id],
    ['interface', 'update', id, '--every', `${2 + randomInt(4)}s`],
    ['interface', 'disable', id],
    ['interface', 'enable', id],
  ].sort(() => randomInt(3) - 1);
  await Promise.all(commands.map((args) => barcodes(args, env)));
}

/** Chain windows opened (frozen) while their interface was disabled: each one is a broken promise. */
async function windowsOpenedWhileDisabled(
  stack: FaultStack,
  iface: ScenarioInterface,
  periods: { from: Date; to: Date }[],
): Promise<string[]> {
  const problems: string[] = [];
  for (const period of periods) {
    const { rows } = await stack.stack.pool.query<{ id: string }>(
      `SELECT id FROM ${stack.stack.config.exporterSchema}.delivery
        WHERE interface_id = $1 AND kind IN ('scheduled','run') AND created_at > $2 AND created_at < $3`,
      [iface.id, period.from, period.to],
    );
    for (const row of rows)
      problems.push(
        `window ${row.id} of interface ${iface.id} was opened while it was disabled (${period.from.toISOString()} .. ${period.to.toISOString()})`,
      );
  }
  return problems;
}

/** What `barcodes doctor` says about schedules versus the database, as problems. */
async function scheduleDrift(env: NodeJS.ProcessEnv): Promise<string[]> {
  const doctor = await barcodes(['doctor', '--json'], env);
  const schedules = (JSON.parse(doctor.stdout) as { name: string; ok: boolean; detail: string }[]).find(
    (check) => check.name === 'schedules',
  );
  return schedules?.ok
    ? []
    : [`schedules differ from the database after the races: ${schedules?.detail ?? doctor.stderr}`];
}

async function databaseNow(stack: FaultStack): Promise<Date> {
  const { rows } = await stack.stack.pool.query<{ now: Date }>('SELECT clock_timestamp() AS now');
  return rows[0]!.now;
}
