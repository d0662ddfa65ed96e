import t from 'tap'
import { streamSettingsFrom } from '../../../cmd/lib/stream-options.ts'

// Number() reads '0x3', '3.0', '3e0' and '+3' as 3: a typo or a unit-less guess must not pass as a count.
t.test('$OMNI_REPLICAS / --replicas take plain digits only', async (t) => {
  for (const bad of ['0x3', '3.0', '3e0', '+3', '3x']) {
    t.throws(() => streamSettingsFrom({}, { OMNI_REPLICAS: bad }), { message: /^\$OMNI_REPLICAS must be an integer from 1 to 5, got/ }, JSON.stringify(bad))
  }
  t.same(streamSettingsFrom({}, { OMNI_REPLICAS: '3' }), { replicas: 3 })
  t.same(streamSettingsFrom({}, { OMNI_REPLICAS: ' 3 ' }), { replicas: 3 }, 'spaces around it are fine')
})
