import t from 'tap'
import { parse } from 'yaml'
import { omni } from '../fixtures/cli.ts'

t.setTimeout(60_000)

// no server anywhere: a URL where nothing listens, in case anything tried to connect
const env = { OMNI_NATS_URL: 'nats://127.0.0.1:1', OMNI_CLICKHOUSE_URL: 'http://127.0.0.1:1' }

type Doc = { openapi: string; paths: Record<string, Record<string, { security?: unknown[]; requestBody?: unknown; parameters?: { name: string; in: string }[] }>>; components: { securitySchemes: Record<string, unknown> }; servers: { url: string }[] }

t.test('omni openapi prints the document as JSON, with no NATS or ClickHouse, and exits at once', async (t) => {
  const started = Date.now()
  const res = await omni(['openapi'], { env, timeoutMs: 20_000 })
  const took = Date.now() - started
  t.equal(res.code, 0, res.stderr)
  t.equal(res.stderr, '', 'nothing on stderr: no warnings, no connection attempts')
  t.ok(took < 15_000, `done in ${took} ms`)
  const doc = JSON.parse(res.stdout) as Doc
  t.match(doc.openapi, /^3\.\d+\.\d+$/)
  for (const path of ['/v1/events', '/v1/events/{id}', '/v1/webhooks/{provider}/{instance}', '/v1/stream', '/healthz', '/readyz', '/metrics']) t.ok(doc.paths[path], `lists ${path}`)
  t.same(doc.components.securitySchemes, { bearer: { type: 'http', scheme: 'bearer' } })
  t.same(doc.paths['/v1/events']?.['post']?.security, [{ bearer: [] }], 'ingest needs the bearer scheme')
  t.same(doc.paths['/healthz']?.['get']?.security, [], 'health is public')
  t.ok(doc.paths['/v1/webhooks/{provider}/{instance}']?.['post']?.parameters?.some((p) => p.in === 'path' && p.name === 'provider'), 'path parameters are documented')
  t.same(doc.servers, [{ url: 'http://127.0.0.1:8080' }], 'the default address: loopback')
})

t.test('--yaml prints the same document as YAML; --api-host/--api-port name the server', async (t) => {
  const [json, yaml] = await Promise.all([omni(['openapi', '--api-host', 'api.internal', '--api-port', '9000'], { env }), omni(['openapi', '--yaml', '--api-host', 'api.internal', '--api-port', '9000'], { env })])
  t.equal(yaml.code, 0, yaml.stderr)
  t.notOk(yaml.stdout.trimStart().startsWith('{'), 'YAML, not JSON')
  t.same(parse(yaml.stdout), JSON.parse(json.stdout))
  t.same((JSON.parse(json.stdout) as Doc).servers, [{ url: 'http://api.internal:9000' }])
})

t.test('--help tells what it does and needs; bad flags fail', async (t) => {
  const help = await omni(['openapi', '--help'], { env })
  t.equal(help.code, 0)
  const text = help.stdout.replace(/\s+/g, ' ')
  t.match(text, /OpenAPI 3 document/)
  t.match(text, /Needs no NATS or ClickHouse/)
  t.match(text, /--yaml/)
  t.match(text, /--api-host <host>/)
  const top = await omni(['--help'], { env })
  t.match(top.stdout, /openapi/, 'listed among the commands')
  const bad = await omni(['openapi', '--api-port', 'x'], { env })
  t.equal(bad.code, 1)
  t.match(bad.stderr, /--api-port must be a non-negative integer/)
  const badHost = await omni(['openapi', '--api-host', ''], { env })
  t.equal(badHost.code, 1)
  t.match(badHost.stderr, /OMNI_ERR_CONFIG: --api-host must not be empty/, 'named by its flag')
  const badEnv = await omni(['openapi'], { env: { ...env, OMNI_API_PORT: 'x' } })
  t.equal(badEnv.code, 1)
  t.match(badEnv.stderr, /OMNI_ERR_CONFIG: \$OMNI_API_PORT must be a non-negative integer, got "x"/, 'a bad variable is named too')
})
