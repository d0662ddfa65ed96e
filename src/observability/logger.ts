import { pino, type Logger } from 'pino'

export type { Logger }

/** Fields that never reach a log line in clear. */
export const REDACTED_PATHS = [
  'token',
  '*.token',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'credentials',
  '*.credentials',
  // webhook credentials: Evolution's apikey (a header or the body), cookies, signature and secret headers
  'apikey',
  '*.apikey',
  '*.*.apikey',
  ...['cookie', 'proxy-authorization', 'x-signature-ed25519', 'x-omni-webhook-secret', 'x-omni-signature', 'x-hub-signature', 'x-hub-signature-256'].flatMap((h) => [
    `headers["${h}"]`,
    `*.headers["${h}"]`,
  ]),
  '*.*.headers.authorization',
]

/** The one logger factory: JSON lines on stderr (or `destination`), secrets redacted. */
export function createLogger(opts: { level?: string; name?: string; destination?: { write(line: string): void } } = {}): Logger {
  return pino(
    {
      name: opts.name ?? 'omni',
      level: opts.level ?? process.env['OMNI_LOG_LEVEL'] ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      base: undefined,
    },
    opts.destination ?? pino.destination({ fd: 2, sync: false }),
  )
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
