import type { Command } from 'commander'
import { migrate, migrationStatus } from '../../src/clickhouse/migrations.ts'
import { omniError } from '../../src/errors/mod.ts'
import { withClickHouse, withClickHouseOptions, type ClickHouseCliOptions } from '../lib/clickhouse-options.ts'

export function registerMigrate(program: Command): void {
  withClickHouseOptions(
    program
      .command('migrate')
      .description('Show the ClickHouse schema migrations and their state (applied, pending, changed, unknown) and each table\'s retention. --apply applies what is pending and sets the retention; `omni up` does the same at every start.')
      .option('--apply', 'apply pending migrations and the configured retention')
      .option('--json', 'print the status as JSON'),
    { retention: true },
  ).action(async (opts: ClickHouseCliOptions & { apply?: boolean; json?: boolean }) => {
    await withClickHouse(opts, async (ch) => {
      const report = opts.apply ? await migrate(ch) : undefined
      const status = await migrationStatus(ch)
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ clickhouse: ch.description, database: ch.config.database, ...(report ? { applied: report } : {}), ...status }, null, 2)}\n`)
      } else {
        const out = process.stdout
        out.write(`${ch.description}, database ${ch.config.database}\n`)
        if (report) out.write(`applied ${report.applied.length ? report.applied.join(', ') : 'nothing new'}${report.retentionChanged.length ? `; retention set on ${report.retentionChanged.join(', ')}` : ''}\n`)
        for (const m of status.migrations) out.write(`  ${String(m.version).padStart(3)}  ${m.state.padEnd(8)} ${m.appliedAt ? `${m.appliedAt}  ` : ''}${m.name}\n`)
        for (const r of status.retention) {
          const note = r.days === r.configured ? '' : `  (configured ${r.configured}; applied by --apply or the next omni up)`
          out.write(`  retention ${r.table}: ${r.days ?? 'none'} days${note}\n`)
        }
      }
      const bad = status.migrations.filter((m) => m.state === 'changed' || m.state === 'unknown')
      if (bad.length > 0) throw omniError('OMNI_ERR_MIGRATION', `migrations ${bad.map((m) => `${m.version} (${m.state})`).join(', ')} do not match this version of Omni Fabric`)
      if (!opts.apply && status.migrations.some((m) => m.state === 'pending')) process.exitCode = 3
    })
  })
}
