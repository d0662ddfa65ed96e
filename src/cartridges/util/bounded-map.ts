/** A string-keyed map that keeps at most `capacity` entries, evicting the least recently used. */
export interface BoundedMap<V> {
  /** the value, marking the key as most recently used */
  get(key: string): V | undefined
  set(key: string, value: V): void
  readonly size: number
}

/** Creates a BoundedMap; a Map's insertion order doubles as the recency order. */
export function boundedMap<V>(capacity: number): BoundedMap<V> {
  const map = new Map<string, V>()
  return {
    get(key) {
      const value = map.get(key)
      if (value !== undefined) {
        map.delete(key)
        map.set(key, value)
      }
      return value
    },
    set(key, value) {
      map.delete(key)
      map.set(key, value)
      for (const oldest of map.keys()) {
        if (map.size <= capacity) break
        map.delete(oldest)
      }
    },
    get size() {
      return map.size
    },
  }
}
