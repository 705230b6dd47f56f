"""Wallet fixtures: real nodes behind every network (stand-ins and anvil)."""

from tests.backend.wallets.nodes import bitcoin_node, nodes, tron_node

__all__ = ["bitcoin_node", "nodes", "tron_node"]
