import t from 'tap'
import { agentDefault, agentPersonal } from '../../../src/cartridges/route/agent.ts'
import { command } from '../../../src/cartridges/route/command.ts'
import { build, configProblem, context, fakeEnv, run, sampleEvent, schemaAccepts } from '../fixtures/cartridge-env.ts'

t.test('route.command emits a derived command and lets the event continue', async (t) => {
  const stage = build(command, { subject: 'omni.cmd.sender.send-text.v1', type: 'message.send.requested' })
  const event = sampleEvent({ correlationid: 'corr-1' })
  const r = await run(stage, context(event))
  t.equal(r.type, 'continue')
  t.notOk(r.type === 'continue' && r.data, 'the event itself is unchanged')
  t.equal(r.emit?.length, 1)
  const out = r.emit?.[0]
  t.equal(out?.subject, 'omni.cmd.sender.send-text.v1')
  t.equal(out?.event.type, 'message.send.requested')
  t.equal(out?.event.causationid, 'evt-1')
  t.equal(out?.event.correlationid, 'corr-1')
  t.equal(out?.event.tenant, 't1')
  t.same(out?.event.data, event.data)
  t.not(out?.event.id, event.id)
  t.same(await run(stage, context(event)), r, 'a redelivery gives the same command')
})

t.test('fields copies only the listed paths', async (t) => {
  const stage = build(command, { subject: 'omni.cmd.x.y.v1', type: 'x.y', fields: ['text', 'contact.name', 'absent'] })
  const r = await run(stage, context(sampleEvent()))
  t.same(r.emit?.[0]?.event.data, { text: 'hello there', contact: { name: 'Ada' } })
})

t.test('two routes from one event get distinct command ids', async (t) => {
  const cfg = { subject: 'omni.cmd.x.y.v1', type: 'x.y' }
  const a = await run(build(command, cfg, fakeEnv('inbox', 'a')), context(sampleEvent()))
  const b = await run(build(command, cfg, fakeEnv('inbox', 'b')), context(sampleEvent()))
  t.not(a.emit?.[0]?.event.id, b.emit?.[0]?.event.id)
})

t.test('agent presets', async (t) => {
  const def = await run(build(agentDefault, {}), context(sampleEvent()))
  t.equal(def.emit?.[0]?.subject, 'omni.cmd.agent.reply.v1')
  t.equal(def.emit?.[0]?.event.type, 'agent.reply.requested')
  t.equal(def.emit?.[0]?.event.data['agent'], 'default')
  t.equal(def.emit?.[0]?.event.data['text'], 'hello there')

  const personal = await run(build(agentPersonal, { fields: ['text'] }), context(sampleEvent()))
  t.equal(personal.emit?.[0]?.subject, 'omni.cmd.agent.personal.v1')
  t.same(personal.emit?.[0]?.event.data, { text: 'hello there', agent: 'personal' })

  const named = await run(build(agentDefault, { agent: 'sales', subject: 'omni.cmd.agent.sales.v1' }), context(sampleEvent()))
  t.equal(named.emit?.[0]?.subject, 'omni.cmd.agent.sales.v1')
  t.equal(named.emit?.[0]?.event.data['agent'], 'sales')
})

t.test('subjects must be command subjects', async (t) => {
  t.notOk(schemaAccepts(command, { subject: 'omni.evt.x.y.v1', type: 'x.y' }))
  t.notOk(schemaAccepts(command, { subject: 'omni.cmd.x.*.v1', type: 'x.y' }))
  t.notOk(schemaAccepts(agentPersonal, { subject: 'omni.cmd.agent.v1' }))
  t.notOk(schemaAccepts(command, { subject: 'omni.cmd.x.y.v1', type: 'x.y', extra: 1 }))
  t.same(configProblem(() => command.create({ subject: 'omni.cmd.x.y.v1', type: 'x.y', fields: ['a', 'b..c'] }, fakeEnv())).path, ['fields', 1])
})
