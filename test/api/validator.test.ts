import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import t from 'tap'
import Type from 'typebox'
import { validatorCompiler } from '../../src/api/validator.ts'

type Validate = (value: unknown) => { value?: unknown; error?: unknown }
const compile = (c: typeof validatorCompiler, schema: unknown, httpPart: string): Validate => c({ schema, httpPart, method: 'POST', url: '/x' } as never) as Validate

const WebhookParams = Type.Object({ provider: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' }), instance: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$' }) })

t.test('a part with only string properties is checked as it came: no conversion, the same answers and errors', async (t) => {
  const ours = compile(validatorCompiler, WebhookParams, 'params')
  const library = compile(TypeBoxValidatorCompiler, WebhookParams, 'params')
  for (const params of [{ provider: 'whatsapp', instance: 'phone-1' }, { provider: 'WhatsApp', instance: 'phone-1' }, { provider: 'whatsapp' }, { provider: 'x', instance: '-bad' }]) {
    t.same(ours(params), library(params), JSON.stringify(params))
  }
  // what the skipped conversion would have done: a number made text (URL parts are always text)
  t.same(library({ provider: 'whatsapp', instance: 7 }), { value: { provider: 'whatsapp', instance: '7' } }, "the library's compiler converts")
  t.ok(ours({ provider: 'whatsapp', instance: 7 }).error, 'ours checks the value as it came')
  const headers = Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })) })
  t.same(compile(validatorCompiler, headers, 'headers')({ 'last-event-id': '12', host: 'x' }), { value: { 'last-event-id': '12', host: 'x' } })
})

t.test('a part with anything but strings still goes through the library, conversion included', async (t) => {
  const seq = Type.Object({ seq: Type.Integer({ minimum: 1 }) })
  t.same(compile(validatorCompiler, seq, 'params')({ seq: '42' }), { value: { seq: 42 } }, 'URL text made an integer')
  t.ok(compile(validatorCompiler, seq, 'params')({ seq: '0' }).error, 'and checked after')
  const mixed = Type.Object({ tenant: Type.String(), limit: Type.Optional(Type.Integer()) })
  t.same(compile(validatorCompiler, mixed, 'querystring')({ tenant: 'a', limit: '5' }), { value: { tenant: 'a', limit: 5 } })
  const union = Type.Object({ v: Type.Union([Type.String(), Type.Integer()]) })
  t.same(compile(validatorCompiler, union, 'querystring')({ v: '5' }), compile(TypeBoxValidatorCompiler, union, 'querystring')({ v: '5' }), 'a union is left to the library')
  // extra properties of another type: the library converts them, so it keeps the part
  const extra = Type.Object({ tenant: Type.String() }, { additionalProperties: Type.Integer() })
  t.same(compile(validatorCompiler, extra, 'querystring')({ tenant: 'a', n1: '5' }), { value: { tenant: 'a', n1: 5 } })
  const closed = Type.Object({ tenant: Type.Optional(Type.String()) }, { additionalProperties: false })
  t.same(compile(validatorCompiler, closed, 'querystring')({ tenant: 'a', n1: '5' }), compile(TypeBoxValidatorCompiler, closed, 'querystring')({ tenant: 'a', n1: '5' }), 'a closed string-only part answers as the library does')
  // bodies are never converted, by either
  t.same(compile(validatorCompiler, seq, 'body')({ seq: '42' }).error !== undefined, true)
})
