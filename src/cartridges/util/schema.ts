import Type from 'typebox'
import { DURATION_PATTERN } from '../../util/duration.ts'
import { COMMAND_SUBJECT_PATTERN, EVENT_SUBJECT_PATTERN } from '../../wire/mod.ts'

// Schema pieces shared by the cartridges' `with` schemas, so each rule is written once.

/** Same rule as the envelope's `type`. */
export const EVENT_TYPE_PATTERN = '^[a-z][a-z0-9_-]*(\\.[a-z][a-z0-9_-]*)+$'

/** A label name that CEL can reach as `labels.<name>`. */
export const LABEL_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$'

export function labelName(description: string) {
  return Type.String({ pattern: LABEL_PATTERN, maxLength: 64, description })
}

export function celExpression(description: string) {
  return Type.String({ minLength: 1, maxLength: 4096, description: `CEL expression over event, data and labels: ${description}` })
}

export function dataPath(description: string) {
  return Type.String({ minLength: 1, maxLength: 256, pattern: '^[^.]+(\\.[^.]+)*$', description })
}

export function duration(description: string) {
  return Type.Union([Type.String({ pattern: DURATION_PATTERN }), Type.Number({ exclusiveMinimum: 0 })], {
    description: `${description} (a string such as "500ms", "30s", "5m", "1h", or a number of milliseconds)`,
  })
}

export function eventSubject(description: string) {
  return Type.String({ pattern: EVENT_SUBJECT_PATTERN, description })
}

export function commandSubject(description: string) {
  return Type.String({ pattern: COMMAND_SUBJECT_PATTERN, description })
}

export function eventType(description: string) {
  return Type.String({ pattern: EVENT_TYPE_PATTERN, maxLength: 128, description })
}
