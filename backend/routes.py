"""Every endpoint the API serves, and the per-domain start-up hooks, in one list each."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from backend.api import Endpoint
from backend.apikeys import routes as apikeys
from backend.audit import routes as audit
from backend.auth import password_routes
from backend.auth import routes as auth
from backend.chains.lifespan import open_probes as open_chain_probes
from backend.connectors.ethereum.lifespan import open_connector as open_ethereum
from backend.limits import routes as limits
from backend.notifications import routes as notifications
from backend.quotes import routes as quotes
from backend.rates import routes as rates
from backend.runtime import Runtime
from backend.system import routes as system
from backend.transfers import routes as transfers
from backend.treasury.connectors import open_connectors as open_chain_senders
from backend.users import routes as users
from backend.wallets import routes as wallets
from backend.withdrawals import routes as withdrawals

ENDPOINTS: list[Endpoint] = [
    *system.ENDPOINTS,
    *auth.ENDPOINTS,
    *password_routes.ENDPOINTS,
    *users.ENDPOINTS,
    *apikeys.ENDPOINTS,
    *audit.ENDPOINTS,
    *notifications.ENDPOINTS,
    *rates.ENDPOINTS,
    *quotes.ENDPOINTS,
    *limits.ENDPOINTS,
    *wallets.ENDPOINTS,
    *withdrawals.ENDPOINTS,
    *transfers.ENDPOINTS,
]

# Each hook opens something a domain keeps for the life of the process (a connector, a
# provider set) and stores it in runtime.extras; it is closed on shutdown.
LIFESPAN_HOOKS: list[Callable[[Runtime], AbstractAsyncContextManager[None]]] = [
    open_ethereum,
    open_chain_probes,
    open_chain_senders,  # after open_ethereum: it registers that connector for sending too
]
