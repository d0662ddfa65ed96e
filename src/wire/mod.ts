// Wire formats: what a message looks like on NATS (subjects, headers, message ids). Everything
// that writes or reads one goes through here; this folder imports nothing else from src.
export * from './subjects.ts'
export * from './headers.ts'
export * from './msg-ids.ts'
export * from './mesh.ts'
