import t from 'tap'
import { bearer, startTestApi } from '../fixtures/api.ts'
import { keys, levels, PIPELINE, receiverOf, receiverOptions, signed, stateOf } from '../fixtures/cartridges.ts'
import { eventually } from '../fixtures/fabric.ts'

t.setTimeout(120_000)

t.test('the pending queue, approve and reject, and publishing, through the API with its scopes', async (t) => {
  const k = await keys(t)
  const api = await startTestApi(t, { pipeline: PIPELINE, fabric: await receiverOptions(t, k.trust, levels(k)) })
  const r = receiverOf(api.fabric, api.dir)
  const get = (url: string) => api.app.inject({ method: 'GET', url, headers: bearer('read') })
  const post = (url: string, scope: 'admin' | 'read' = 'admin', payload: object = {}) => api.app.inject({ method: 'POST', url, headers: bearer(scope), payload })

  await r.deliver('cartridge.published', await signed(t, k.byLevel.L1, { id: 'lab.one' }, k.trust))
  await r.deliver('cartridge.published', await signed(t, k.byLevel.L1, { id: 'lab.two' }, k.trust))
  t.ok(await eventually(async () => (get('/v1/plugins/pending').then((x) => (x.json() as { cartridges: unknown[] }).cartridges.length === 2))))
  const listed = (await get('/v1/plugins/pending')).json() as { cartridges: Record<string, unknown>[] }
  t.match(listed.cartridges, [{ id: 'lab.one', origin: 'a1', tier: 'verified', keyid: k.byLevel.L1.keyid, capabilities: { network: 'none' } }, { id: 'lab.two' }])

  t.equal((await post('/v1/plugins/pending/lab.one/approve', 'read')).statusCode, 403, 'a read token may not approve')
  const stale = await post('/v1/plugins/pending/lab.one/approve', 'admin', { digest: 'f'.repeat(64) })
  t.match(stale.json(), { error: { code: 'OMNI_ERR_PLUGIN_APPROVAL' } }, 'a digest other than the reviewed one approves nothing')
  const digest = listed.cartridges[0]?.['digest']
  const approved = await post('/v1/plugins/pending/lab.one/approve', 'admin', { digest })
  t.equal(approved.statusCode, 200, approved.body)
  t.equal(stateOf(api.fabric, 'lab.one'), 'verified', 'installed')
  const rejected = await post('/v1/plugins/pending/lab.two/reject', 'admin', { reason: 'not for us' })
  t.equal(rejected.statusCode, 200, rejected.body)
  t.equal(stateOf(api.fabric, 'lab.two'), undefined, 'not installed')
  t.same((await get('/v1/plugins/pending')).json(), { cartridges: [] })
  t.match((await post('/v1/plugins/pending/lab.two/approve')).json(), { error: { code: 'OMNI_ERR_NOT_FOUND', status: 404 } }, 'nothing left to approve')
  t.match((await r.events('cartridge.installed'))[0], { data: { id: 'lab.one', level: 'L1', by: 'token:test-admin' } }, 'the approver is the token')
  t.match((await r.events('cartridge.refused'))[0], { data: { id: 'lab.two', reason: 'cartridge-rejected', by: 'token:test-admin', message: /not for us/ } })

  t.equal((await post('/v1/plugins/lab.one/publish', 'read')).statusCode, 403)
  const pub = await post('/v1/plugins/lab.one/publish')
  t.equal(pub.statusCode, 201, pub.body)
  t.match(pub.json(), { type: 'cartridge.published', duplicate: false, plugin: { id: 'lab.one', serial: 1 } })
  t.match((await post('/v1/plugins/lab.one/publish')).json(), { duplicate: true }, 'the same cartridge again is stored once')
  const rev = await post('/v1/plugins/revocations/publish')
  t.equal(rev.statusCode, 201, rev.body)
  t.match(rev.json(), { type: 'cartridge.revoked', revokedKeys: 0, yanked: 0 })
})
