import t from 'tap'
import { jetstreamManager } from '@nats-io/jetstream'
import { ensureInboxes } from '../../src/mesh/inbox.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'

// An inbox sources a peer's outboxes by visibility, with the deliver subject the hub's
// permissions scope; a changed configuration changes the sources of the existing inbox.
t.test('inboxes source what the configuration allows, and follow its changes', async (t) => {
  const server = await startTestNats(t)
  const jsm = await jetstreamManager(await connectTest(t, server))
  t.same(await ensureInboxes(jsm, 'a', 'a2', [{ node: 'a1', cluster: 'a' }]), [], 'created')
  const sources = async () => (await jsm.streams.info('MESH_IN_a1')).config.sources?.map((s) => [s.name, s.external?.api, s.external?.deliver])
  t.same(await sources(), [
    ['MESH_CLUSTER', '$JS.a1.API', 'mesh.dlv.a.a1.cluster.a2'],
    ['MESH_PUBLIC', '$JS.a1.API', 'mesh.dlv.a.a1.public.a2'],
  ], 'a peer of the same cluster: both outboxes')
  t.same((await jsm.streams.info('MESH_IN_a1')).config.subjects ?? [], [], 'no subjects: nothing on this node can publish into it')
  t.same(await ensureInboxes(jsm, 'a', 'a2', [{ node: 'a1', cluster: 'a' }]), [], 'the same configuration changes nothing')
  t.match(await ensureInboxes(jsm, 'b', 'a2', [{ node: 'a1', cluster: 'a' }]), [/MESH_IN_a1 now sources MESH_PUBLIC of a1/], 'another cluster now')
  t.same(await sources(), [['MESH_PUBLIC', '$JS.a1.API', 'mesh.dlv.a.a1.public.a2']], 'a peer of another cluster: its public outbox only')
  t.match(await ensureInboxes(jsm, 'a', 'a2', [{ node: 'a3', cluster: 'a' }]), [/MESH_IN_a1 stopped sourcing: a1 is no longer a peer/], 'a peer removed')
  t.same((await sources()) ?? [], [], 'its inbox sources nothing')
  t.same(await ensureInboxes(jsm, 'a', 'a2', [{ node: 'a3', cluster: 'a' }]), [], 'and stays so')
})
