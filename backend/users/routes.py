"""The signed-in user, and the admin's view and actions on accounts."""

from __future__ import annotations

from backend.api import Call, Endpoint
from backend.users import service
from backend.users.access import admin_only, signed_in
from contract.pagination import Page
from contract.users import AdminUserQuery, DisableUser, EnableUser, KycChange, User


async def me(call: Call) -> User:
    return service.to_wire(await service.get(call.session, call.user().user_id))


async def admin_list_users(call: Call) -> Page[User]:
    query: AdminUserQuery = call.query
    return await service.search(call.session, query)


async def admin_get_user(call: Call) -> User:
    return service.to_wire(await service.get(call.session, call.path["user_id"]))


async def admin_set_kyc(call: Call, body: KycChange) -> User:
    user = await service.set_kyc_tier(
        call.session, call.user().user_id, call.path["user_id"], body, call.client_ip
    )
    return service.to_wire(user)


async def admin_disable(call: Call, body: DisableUser) -> User:
    user = await service.set_disabled(
        call.session, call.user().user_id, call.path["user_id"], body.reason, call.client_ip
    )
    return service.to_wire(user)


async def admin_enable(call: Call, body: EnableUser) -> User:
    user = await service.set_disabled(
        call.session, call.user().user_id, call.path["user_id"], None, call.client_ip
    )
    return service.to_wire(user)


ENDPOINTS = [
    Endpoint("GET", "/v1/me", me, signed_in(), "The signed-in user and their KYC standing",
             response=User, tags=("me",), operation_id="get_me"),
    Endpoint("GET", "/v1/admin/users", admin_list_users, admin_only,
             "Find users by email or phone", query=AdminUserQuery, response=Page[User],
             errors=(400,), tags=("admin",)),
    Endpoint("GET", "/v1/admin/users/{user_id}", admin_get_user, admin_only, "One user",
             response=User, errors=(404,), tags=("admin",)),
    Endpoint("POST", "/v1/admin/users/{user_id}/kyc", admin_set_kyc, admin_only,
             "Grant or withdraw the identity check (KYC tier 2)", body=KycChange,
             response=User, errors=(404, 409), tags=("admin",)),
    Endpoint("POST", "/v1/admin/users/{user_id}/disable", admin_disable, admin_only,
             "Disable an account (signs it out everywhere at once)", body=DisableUser,
             response=User, errors=(404, 409), tags=("admin",)),
    Endpoint("POST", "/v1/admin/users/{user_id}/enable", admin_enable, admin_only,
             "Enable a disabled account", body=EnableUser, response=User,
             errors=(404, 409), tags=("admin",)),
]  # fmt: skip  # one endpoint per entry, its fields grouped by hand
