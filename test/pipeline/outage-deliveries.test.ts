import t from 'tap'
import { OutageDeliveries } from '../../src/pipeline/outage-deliveries.ts'

t.test('outage deliveries are left out of the attempt, per event, until it is settled', async (t) => {
  const o = new OutageDeliveries()
  t.equal(o.attempt(7, 1), 1, 'nothing counted: the delivery count')
  o.add(7)
  o.add(7)
  t.equal(o.attempt(7, 3), 1, 'two outage deliveries before the third: attempt 1')
  t.equal(o.attempt(8, 3), 3, 'another event is not touched')
  t.equal(o.attempt(7, 1), 1, 'never below 1 (a redelivery counted by another process)')
  o.forget(7)
  t.equal(o.attempt(7, 3), 3)
  t.equal(o.size, 0)
})

t.test('bounded: the oldest event is forgotten first, so it counts every delivery (dead-lettered sooner, never later)', async (t) => {
  const o = new OutageDeliveries(2)
  o.add(1)
  o.add(2)
  o.add(1) // 1 is now the youngest
  o.add(3)
  t.equal(o.size, 2)
  t.equal(o.attempt(2, 2), 2, 'the oldest (2) was forgotten')
  t.equal(o.attempt(1, 3), 1)
  t.equal(o.attempt(3, 2), 1)
})
