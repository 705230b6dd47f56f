"""The one compare-and-set transition every state machine uses: a move along ALLOWED
happens once and writes its event; a refused move raises InvalidTransition, rendered 409
by the API; of two racing moves exactly one wins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy import func, select

from backend import machine
from backend.api import Call, Endpoint
from backend.app import create_app
from backend.db import unit_of_work
from backend.errors import InvalidTransition
from backend.events.models import Event
from backend.runtime import Runtime
from backend.settings import Settings
from backend.treasury.models import SWEEP_ALLOWED, Sweep, SweepStatus
from backend.users.access import public_limited
from contract.ids import new_id
from tests.conftest import WithState


async def _sweep(runtime: Runtime, status: SweepStatus = SweepStatus.topping_up) -> str:
    async with unit_of_work(runtime.sessionmaker) as session:
        sweep_id = new_id("swp")
        row = Sweep(
            id=sweep_id,
            network="tron",
            asset="USDT",
            address_id="addr_1",
            address=f"T{sweep_id}",  # one open sweep per address
            amount=Decimal("5"),
            gas_amount=Decimal("1") if status is SweepStatus.topping_up else None,
            gas_asset="TRX" if status is SweepStatus.topping_up else None,
            status=status,
        )
        session.add(row)
    return row.id


async def _move(runtime: Runtime, sweep_id: str, to: SweepStatus) -> Sweep:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await machine.transition(
            session, Sweep, sweep_id, SWEEP_ALLOWED, to, event=f"sweep.{to}", data={"n": 1}
        )


async def _status_and_events(runtime: Runtime, sweep_id: str) -> tuple[str, list[str]]:
    async with runtime.sessionmaker() as session:
        status = await session.scalar(select(Sweep.status).where(Sweep.id == sweep_id))
        kinds = await session.scalars(
            select(Event.type).where(Event.subject_id == sweep_id).order_by(Event.id)
        )
        return str(status), list(kinds)


async def test_an_allowed_move_happens_and_writes_its_event(runtime: Runtime) -> None:
    sweep_id = await _sweep(runtime)
    moved = await _move(runtime, sweep_id, SweepStatus.sending)
    assert moved.status == SweepStatus.sending
    assert await _status_and_events(runtime, sweep_id) == ("sending", ["sweep.sending"])


async def test_a_move_off_the_table_is_refused_and_changes_nothing(runtime: Runtime) -> None:
    sweep_id = await _sweep(runtime)
    with pytest.raises(InvalidTransition) as refused:
        await _move(runtime, sweep_id, SweepStatus.confirmed)  # topping_up ↛ confirmed
    assert (refused.value.status, refused.value.code) == (409, "invalid_transition")
    assert await _status_and_events(runtime, sweep_id) == ("topping_up", [])


async def test_expect_names_the_status_the_caller_read(runtime: Runtime) -> None:
    sweep_id = await _sweep(runtime, SweepStatus.sending)
    async with unit_of_work(runtime.sessionmaker) as session:
        with pytest.raises(InvalidTransition):  # read as topping_up: no longer true
            await machine.transition(
                session,
                Sweep,
                sweep_id,
                SWEEP_ALLOWED,
                SweepStatus.failed,
                expect=SweepStatus.topping_up,
            )
        with pytest.raises(InvalidTransition):  # confirmed ↛ failed, refused before the UPDATE
            await machine.transition(
                session,
                Sweep,
                sweep_id,
                SWEEP_ALLOWED,
                SweepStatus.failed,
                expect=SweepStatus.confirmed,
            )
        moved = await machine.transition(
            session, Sweep, sweep_id, SWEEP_ALLOWED, SweepStatus.failed, expect=SweepStatus.sending
        )
    assert moved.status == SweepStatus.failed


async def test_extra_conditions_guard_the_move(runtime: Runtime) -> None:
    sweep_id = await _sweep(runtime)
    async with unit_of_work(runtime.sessionmaker) as session:
        with pytest.raises(InvalidTransition):
            await machine.transition(
                session,
                Sweep,
                sweep_id,
                SWEEP_ALLOWED,
                SweepStatus.sending,
                where=[Sweep.network == "bitcoin"],
            )
    assert (await _status_and_events(runtime, sweep_id))[0] == "topping_up"


async def test_of_two_racing_moves_exactly_one_wins(runtime: Runtime) -> None:
    for _ in range(3):
        sweep_id = await _sweep(runtime)
        outcomes = await asyncio.gather(
            _move(runtime, sweep_id, SweepStatus.sending),
            _move(runtime, sweep_id, SweepStatus.sending),
            return_exceptions=True,
        )
        won = [o for o in outcomes if isinstance(o, Sweep)]
        lost = [o for o in outcomes if isinstance(o, InvalidTransition)]
        assert (len(won), len(lost)) == (1, 1), outcomes
        assert await _status_and_events(runtime, sweep_id) == ("sending", ["sweep.sending"])
    async with runtime.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == 3


class Moved(BaseModel):
    status: str


def _confirm_endpoint() -> Endpoint:
    async def confirm(call: Call) -> Moved:
        row = await machine.transition(
            call.session, Sweep, call.path["sweep_id"], SWEEP_ALLOWED, SweepStatus.confirmed
        )
        return Moved(status=row.status)

    return Endpoint(
        "POST",
        "/probe/sweeps/{sweep_id}/confirm",
        confirm,
        public_limited,
        "Probe: confirm a sweep",
        response=Moved,
    )


@pytest.fixture
async def probe_api(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, [_confirm_endpoint()])
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(
            app=WithState(app, dict(state or {})), client=("127.0.0.1", 40002)
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://probe.test") as c:
            yield c


async def test_a_refused_move_is_409_at_the_api(
    runtime: Runtime, probe_api: httpx.AsyncClient
) -> None:
    sweep_id = await _sweep(runtime)
    refused = await probe_api.post(
        f"/probe/sweeps/{sweep_id}/confirm", headers={"Idempotency-Key": "k1"}
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "invalid_transition"
    await _move(runtime, sweep_id, SweepStatus.sending)
    moved = await probe_api.post(
        f"/probe/sweeps/{sweep_id}/confirm", headers={"Idempotency-Key": "k2"}
    )
    assert (moved.status_code, moved.json()) == (200, {"status": "confirmed"})
