import t from 'tap'
import { createLogger, silentLogger } from '../../src/observability/logger.ts'

t.test('secrets never reach a log line', async (t) => {
  const lines: string[] = []
  const log = createLogger({ level: 'info', destination: { write: (l) => void lines.push(l) } })
  log.info({ token: 'abc', headers: { authorization: 'Bearer xyz' }, nats: { password: 'pw' }, tenant: 't1' }, 'connecting')
  const line = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>
  t.equal(line['token'], '[redacted]')
  t.same(line['headers'], { authorization: '[redacted]' })
  t.same(line['nats'], { password: '[redacted]' })
  t.equal(line['tenant'], 't1')
  t.equal(line['msg'], 'connecting')
  t.notMatch(lines.join(''), /abc|xyz|pw"/)
})

t.test('the level filters and the silent logger drops everything', async (t) => {
  const lines: string[] = []
  const log = createLogger({ level: 'warn', destination: { write: (l) => void lines.push(l) } })
  log.info('hidden')
  log.warn('shown')
  t.equal(lines.length, 1)
  t.equal(silentLogger().isLevelEnabled('error'), false)
})
