"""Every page of the web app, declared as data: each audience module appends its ROUTES."""

from __future__ import annotations

from starlette.routing import BaseRoute

from web import account, auth, password, public, wallet

ROUTES: list[BaseRoute] = [
    *public.ROUTES,
    *auth.ROUTES,
    *password.ROUTES,
    *account.ROUTES,
    *wallet.ROUTES,
]
