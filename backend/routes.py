"""Every endpoint the API serves, in one list."""

from __future__ import annotations

from backend.api import Endpoint
from backend.apikeys import routes as apikeys
from backend.audit import routes as audit
from backend.auth import password_routes
from backend.auth import routes as auth
from backend.limits import routes as limits
from backend.notifications import routes as notifications
from backend.quotes import routes as quotes
from backend.rates import routes as rates
from backend.system import routes as system
from backend.transfers import routes as transfers
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
