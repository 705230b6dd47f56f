"""Keys: the deployment's one master seed (sealed at rest), HD derivation and address allocation.

Only `backend.keys.signer` ever opens the seed or holds a private key; every other module
works from account-level public keys stored at `init` and hands out public addresses.
"""
