import t from 'tap'
import {
  encodeEnvelope,
  generateSigningKey,
  keyIdOf,
  MAX_ENVELOPE_BYTES,
  openEnvelope,
  pae,
  PAYLOAD_TYPES,
  signEnvelope,
  type OpenOptions,
} from '../../src/plugins/mod.ts'
import { createHash } from 'node:crypto'

const key = generateSigningKey()
const known: OpenOptions = { source: 'env.json', payloadType: PAYLOAD_TYPES.manifest, keys: (id) => (id === key.keyid ? key.publicKey : undefined) }
const payload = Buffer.from('kind: Plugin\n')

t.test('PAE follows the DSSE spec byte for byte', async (t) => {
  t.equal(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString(), 'DSSEv1 29 http://example.com/HelloWorld 11 hello world')
  // lengths are in bytes, not characters
  t.equal(pae('t', Buffer.from('é')).toString(), 'DSSEv1 1 t 2 é')
})

t.test('key ids are the first 32 hex characters of the sha256 of the SPKI DER', async (t) => {
  const der = key.publicKey.export({ type: 'spki', format: 'der' })
  t.equal(key.keyid, createHash('sha256').update(der).digest('hex').slice(0, 32))
  t.equal(keyIdOf(key.publicKey), key.keyid)
})

t.test('a signed envelope opens to the exact payload bytes', async (t) => {
  const env = signEnvelope(PAYLOAD_TYPES.manifest, payload, key)
  const opened = openEnvelope(encodeEnvelope(env), known)
  t.ok(opened.payload.equals(payload))
  t.equal(opened.keyid, key.keyid)
})

t.test('rejections', async (t) => {
  const good = signEnvelope(PAYLOAD_TYPES.manifest, payload, key)
  const open = (value: unknown, o: Partial<OpenOptions> = {}) => () => openEnvelope(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)), { ...known, ...o })
  t.throws(open('x'.repeat(MAX_ENVELOPE_BYTES + 1)), { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: /env\.json is 65537 bytes, over the 65536-byte limit for envelopes; refused before parsing/ })
  t.throws(() => openEnvelope(Buffer.from([0x7b, 0xff, 0x7d]), known), { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: /env\.json is not valid UTF-8/ })
  t.throws(open({ ...good, signatures: [{ keyid: key.keyid, sig: 'AAAA' }] }), { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: /does not verify/ }, 'a truncated signature fails, without a crash')
  t.throws(open('{"a": 1'), { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: /env\.json is not valid JSON/ })
  t.throws(open('{"payloadType": "a",\n "payloadType": "b"}'), { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: /env\.json:2:2: duplicate key "payloadType"/ })
  t.throws(open('{"signatures": [{"keyid": "a", "\\u006beyid": "b"}]}'), { message: /duplicate key "keyid"/ }, 'escaped keys count as the same key')
  t.throws(open({ ...good, extra: 1 }), { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: /is not a DSSE envelope/ })
  t.throws(open({ ...good, signatures: [] }), { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: /is not a DSSE envelope/ })
  t.throws(open(good, { payloadType: PAYLOAD_TYPES.revocations }), { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: /has payloadType "application\/vnd\.omni\.plugin\+yaml", expected "application\/vnd\.omni\.revocations\+json"/ })
  t.throws(open({ ...good, payload: `${good.payload.slice(0, -2)}=` }), { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: /payload is not canonical base64/ })
  t.throws(open({ ...good, payload: Buffer.from('kind: Plugin!\n').toString('base64') }), { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: /signature of key [0-9a-f]{32} does not verify/ })
  t.throws(open(good, { keys: () => undefined }), { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: new RegExp(`signed by unknown key ${key.keyid}`) })
  const other = generateSigningKey()
  t.throws(open(good, { keys: () => other.publicKey }), { code: 'OMNI_ERR_PLUGIN_SIGNATURE' }, 'a signature checked against the wrong key fails')
})

t.test('with several signatures, the first by a known key decides', async (t) => {
  const stranger = generateSigningKey()
  const a = signEnvelope(PAYLOAD_TYPES.manifest, payload, stranger)
  const b = signEnvelope(PAYLOAD_TYPES.manifest, payload, key)
  const both = { ...a, signatures: [...a.signatures, ...b.signatures] }
  t.equal(openEnvelope(encodeEnvelope(both), known).keyid, key.keyid)
})
