import t from 'tap'
import { parseByteLimit, parseSize } from '../../../cmd/lib/parse.ts'
import { streamSettingsFrom } from '../../../cmd/lib/stream-options.ts'
import { isOmniError } from '../../../src/errors/mod.ts'
import { compileNodeConfig } from '../../../src/node/mod.ts'
import { silentLogger } from '../../../src/observability/logger.ts'
import { omni } from '../../fixtures/cli.ts'

t.test('sizes: bytes or binary units; a byte limit may be none (-1)', async (t) => {
  t.equal(parseSize('1048576', '--x'), 1_048_576)
  t.equal(parseSize('512MiB', '--x'), 512 * 1024 * 1024)
  t.equal(parseSize('8gib', '--x'), 8 * 1024 ** 3)
  t.throws(() => parseSize('8GB', '--quota-bytes'), /--quota-bytes must be a size such as 1048576, 512MiB or 8GiB, got "8GB"/)
  t.throws(() => parseSize('-1', '--x'))
  t.equal(parseByteLimit('none', '--x'), -1)
  t.throws(() => parseByteLimit('0', '--stream-max-bytes'), /--stream-max-bytes must be a size above 0 \(such as 8GiB\) or none/)
})

t.test('stream limits: the flag, else $OMNI_STREAM_MAX_BYTES / $OMNI_RAW_MAX_BYTES, else unset (a new stream gets the default, an existing one keeps its own)', async (t) => {
  t.same(streamSettingsFrom({}, {}), {})
  t.same(streamSettingsFrom({}, { OMNI_STREAM_MAX_BYTES: '1GiB', OMNI_RAW_MAX_BYTES: 'none' }), { maxBytes: 1024 ** 3, rawMaxBytes: -1 })
  t.same(streamSettingsFrom({ streamMaxBytes: 2048 }, { OMNI_STREAM_MAX_BYTES: '1GiB' }), { maxBytes: 2048 })
  try {
    streamSettingsFrom({}, { OMNI_RAW_MAX_BYTES: 'lots' })
    t.fail('expected OMNI_ERR_CONFIG')
  } catch (err) {
    t.ok(isOmniError(err))
    t.match((err as Error).message, /^\$OMNI_RAW_MAX_BYTES must be a size such as/)
  }
})

t.test('the node config refuses a byte limit of 0 or below (but -1), naming the option', async (t) => {
  const base = { manifests: 'manifests', logger: silentLogger(), lookup: () => undefined, nats: { url: 'nats://127.0.0.1:4222' } }
  t.throws(() => compileNodeConfig({ ...base, streams: { maxBytes: 0, rawMaxBytes: 1.5 } }), { code: 'OMNI_ERR_CONFIG', problems: [{ where: 'streams.maxBytes' }, { where: 'streams.rawMaxBytes' }] })
  t.same(compileNodeConfig({ ...base, streams: { maxBytes: -1, rawMaxBytes: 4096 } }).streams, { maxBytes: -1, rawMaxBytes: 4096 })
})

t.test('omni up --help tells the stream limits and the quotas as they are', async (t) => {
  const help = await omni(['up', '--help'])
  t.equal(help.code, 0)
  const text = help.stdout.replace(/\s+/g, ' ')
  t.match(text, '--stream-max-bytes <size> byte limit of the events stream (1048576, 512MiB, 8GiB, or none); when reached, ingest answers 507 OMNI_ERR_STREAM_FULL and nothing stored is deleted (default: $OMNI_STREAM_MAX_BYTES, else 8GiB on a stream it creates; an existing stream keeps its own)')
  t.match(text, '--raw-max-bytes <size>')
  t.match(text, '(default: $OMNI_RAW_MAX_BYTES')
  t.match(text, '--quota-events <n> events one token (or one webhook source instance) may ingest per quota window; 0 for no quota')
  t.match(text, '(default: 600000)')
  t.match(text, '--quota-bytes <size>')
  t.match(text, '(default: 1073741824)')
  t.match(text, '--quota-window <seconds> the quota window (default: 60)')
})

t.test('replicas: --replicas, else $OMNI_REPLICAS, else unset; 1 to 5 only, named in the error', async (t) => {
  t.same(streamSettingsFrom({}, { OMNI_REPLICAS: '3' }), { replicas: 3 })
  t.same(streamSettingsFrom({ replicas: 1 }, { OMNI_REPLICAS: '3' }), { replicas: 1 }, 'the flag wins')
  for (const bad of ['0', '6', 'three']) {
    try {
      streamSettingsFrom({}, { OMNI_REPLICAS: bad })
      t.fail(`expected OMNI_ERR_CONFIG for ${bad}`)
    } catch (err) {
      t.ok(isOmniError(err))
      t.match((err as Error).message, /^\$OMNI_REPLICAS must be/)
    }
  }
  const help = await omni(['up', '--help'])
  const text = help.stdout.replace(/\s+/g, ' ')
  t.match(text, '--replicas <n> copies of every stream and KV bucket the platform keeps, across a NATS cluster given by --nats (1 to 5; 3 for a 3-node cluster: JetStream needs a majority of the copies, so 2 survive no server loss and 3 survive one). An existing stream or bucket with fewer is raised to it (logged); one with more is never lowered (a warning names it and both counts) (default: $OMNI_REPLICAS, else 1 on a stream or bucket it creates; an existing one keeps its own)')
  t.match(text, "for a cluster, its servers' URLs separated by commas")
  const refused = await omni(['up', '--replicas', '9'])
  t.not(refused.code, 0)
  t.match(refused.stderr, '--replicas must be an integer from 1 to 5, got "9"')
})
