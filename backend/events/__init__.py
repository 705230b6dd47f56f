"""Events: the outbox written in the caller's transaction, its relay to Redis, and SSE."""
