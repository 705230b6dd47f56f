"""Ethereum: USDT (ERC-20) detection and transaction plumbing over JSON-RPC with web3.py."""
