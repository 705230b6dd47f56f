"""Limits: a user reads their own; an admin reads anyone's and sets per-user overrides
(audited by the service)."""

from __future__ import annotations

from backend.api import Call, Endpoint
from backend.errors import NotFound
from backend.limits import service
from backend.users.access import admin_only, signed_in
from contract.limits import LimitAction, LimitOverride, LimitOverrideRequest, UserLimits
from contract.money import Asset, Money


async def _limits_of(call: Call, user_id: str) -> UserLimits:
    settings = call.runtime.settings
    return UserLimits(
        user_id=user_id,
        data=[
            await service.status(call.session, settings, user_id, action) for action in LimitAction
        ],
    )


async def my_limits(call: Call) -> UserLimits:
    return await _limits_of(call, call.user().user_id)


async def user_limits(call: Call) -> UserLimits:
    return await _limits_of(call, call.path["user_id"])


def _action(call: Call) -> LimitAction:
    try:
        return LimitAction(call.path["action"])
    except ValueError as exc:
        raise NotFound(f"Limits are set for {', '.join(LimitAction)}.", param="action") from exc


def _kes(value: object) -> Money | None:
    return None if value is None else Money.of(str(value), Asset.KES)


async def set_override(call: Call, body: LimitOverrideRequest) -> LimitOverride | None:
    admin, action = call.user(), _action(call)
    row = await service.set_override(
        call.session, admin, call.path["user_id"], action, body, ip=call.client_ip
    )
    if row is None:
        return None
    return LimitOverride(
        user_id=row.user_id,
        action=action,
        per_transaction=_kes(row.per_transaction),
        daily=_kes(row.daily),
        monthly=_kes(row.monthly),
        per_hour=row.per_hour,
        reason=row.reason,
        set_by=row.set_by,
        updated_at=row.updated_at,
    )


ENDPOINTS = [
    Endpoint("GET", "/v1/me/limits", my_limits, signed_in(),
             "Your limits per action and what remains of them", response=UserLimits,
             tags=("me",)),
    Endpoint("GET", "/v1/admin/users/{user_id}/limits", user_limits, admin_only,
             "A user's limits and usage", response=UserLimits, errors=(404,),
             tags=("admin",)),
    Endpoint("PUT", "/v1/admin/users/{user_id}/limits/{action}", set_override, admin_only,
             "Override a user's limits for one action (audited); all limits omitted "
             "removes the override", body=LimitOverrideRequest, response=LimitOverride,
             errors=(404,), tags=("admin",)),
]  # fmt: skip  # one endpoint per entry, its fields grouped by hand
