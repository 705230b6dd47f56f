"""Qpeapay API service: domains, ledger, events, connectors to outside systems."""
