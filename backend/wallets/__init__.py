"""Custodial wallets: balances, deposit addresses, and one history of every way money moved."""
