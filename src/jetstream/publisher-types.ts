/** The stream's acknowledgement of one publish. */
export interface PubAck {
  readonly stream: string
  readonly seq: number
  readonly duplicate: boolean
}

export interface PublishOptions {
  /** becomes Nats-Msg-Id: the stream drops a repeat inside its duplicate window */
  readonly msgID?: string
  readonly headers?: Record<string, string>
  readonly expectStream?: string
}

/** Publishes to JetStream and resolves once the stream has the message (durable). */
export interface AckPublisher {
  publish(subject: string, payload: Uint8Array, opts?: PublishOptions): Promise<PubAck>
}
