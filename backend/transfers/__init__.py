"""Transfers: instant payments between Qpeapay users, settled in the ledger."""
