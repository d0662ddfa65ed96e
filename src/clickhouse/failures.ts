// ClickHouse errors sorted into the two kinds the sink acts on differently: a row whose content
// the server refuses (dead-letter that event) and everything else (wait and retry).

/**
 * Server error names that mean "this data is wrong", whatever the moment. Everything not listed
 * counts as transient: a bad schema (a detached table, a missing column) is an operator's to fix,
 * and events wait for it instead of being dead-lettered.
 */
const CONTENT_ERRORS = new Set([
  'CANNOT_PARSE_TEXT',
  'CANNOT_PARSE_INPUT_ASSERTION_FAILED',
  'CANNOT_PARSE_QUOTED_STRING',
  'CANNOT_PARSE_ESCAPE_SEQUENCE',
  'CANNOT_PARSE_DATE',
  'CANNOT_PARSE_DATETIME',
  'CANNOT_PARSE_NUMBER',
  'CANNOT_PARSE_UUID',
  'CANNOT_PARSE_BOOL',
  'CANNOT_READ_ALL_DATA',
  'INCORRECT_DATA',
  'TYPE_MISMATCH',
  'TOO_LARGE_STRING_SIZE',
  'ARGUMENT_OUT_OF_BOUND',
  'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE',
  'DECIMAL_OVERFLOW',
  'VIOLATED_CONSTRAINT',
  'INCORRECT_NUMBER_OF_COLUMNS',
  'UNKNOWN_ELEMENT_OF_ENUM',
  'CANNOT_CONVERT_TYPE',
  'CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN',
])

/** The server's error name (`VIOLATED_CONSTRAINT`), when the error came from ClickHouse. */
export function clickHouseErrorType(err: unknown): string | undefined {
  const type = (err as { type?: unknown })?.type
  return typeof type === 'string' ? type : undefined
}

/** True when ClickHouse refused the data itself: retrying the same rows cannot succeed. */
export function isContentRejection(err: unknown): boolean {
  const type = clickHouseErrorType(err)
  return type !== undefined && CONTENT_ERRORS.has(type)
}

export function describeClickHouseError(err: unknown): string {
  const type = clickHouseErrorType(err)
  const message = err instanceof Error ? err.message : String(err)
  const first = message.split('\n')[0]?.trim() ?? message
  return type ? `${type}: ${first}` : first
}
