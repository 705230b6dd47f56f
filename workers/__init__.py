"""The worker process: thin arq jobs over backend services, one module per domain."""
