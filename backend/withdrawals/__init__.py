"""Withdrawals: crypto sent from a customer wallet to an address, on chain or settled internally."""
