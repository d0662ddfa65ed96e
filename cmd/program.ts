// The `omni` command line (started by cmd/omni.ts). `omni a b` lives in cmd/commands/a/b.ts (a
// group's folder has a mod.ts that registers it), helpers the commands share in cmd/lib/; this
// file only wires them up.
import { Command } from 'commander'
import { registerBench } from './commands/bench.ts'
import { registerCatalog } from './commands/catalog.ts'
import { registerDlq } from './commands/dlq/mod.ts'
import { registerEvents } from './commands/events/mod.ts'
import { registerImage } from './commands/image/mod.ts'
import { registerMesh } from './commands/mesh/mod.ts'
import { registerMigrate } from './commands/migrate.ts'
import { registerOpenApi } from './commands/openapi.ts'
import { registerPlugin } from './commands/plugin/mod.ts'
import { registerPublish } from './commands/publish.ts'
import { registerTail } from './commands/tail.ts'
import { registerUp } from './commands/up.ts'
import { registerValidate } from './commands/validate.ts'
import { registerVerify } from './commands/verify/mod.ts'
import { NATS_CREDENTIALS } from './lib/nats-credentials.ts'
import { reportAndExit } from './lib/output.ts'

const program = new Command()
  .name('omni')
  .description('Omni Fabric: events from every integration, captured once, deduplicated and routed through YAML pipelines on NATS JetStream.')
  .version('0.1.0')
  .showHelpAfterError()
  .option(NATS_CREDENTIALS.flags as string, `the NATS server's user and password, for every command that connects (default: $${NATS_CREDENTIALS.env}, else ${NATS_CREDENTIALS.fallbackHelp})`)
  // every command reads the credentials through the variable, which the flag sets for it
  .hook('preAction', (top) => {
    const file = (top.opts() as { natsCredentials?: string }).natsCredentials
    if (file !== undefined) process.env[NATS_CREDENTIALS.env] = file
  })

registerUp(program)
registerValidate(program)
registerPublish(program)
registerTail(program)
registerDlq(program)
registerCatalog(program)
registerEvents(program)
registerMigrate(program)
registerPlugin(program)
registerOpenApi(program)
registerBench(program)
registerVerify(program)
registerMesh(program)
registerImage(program)

program.parseAsync(process.argv).catch(reportAndExit)
