"""Process wiring: which networks are watched and probed by /readyz, the watchers built from
settings, the production confirmation defaults, and the table of claims
per purpose."""

from __future__ import annotations

import pytest

from backend.chains import claims, deposits
from backend.chains.lifespan import open_watchers
from backend.chains.readiness import watched_networks
from backend.keys.models import AddressPurpose
from backend.runtime import Runtime, open_runtime
from backend.settings import Environment, Settings
from backend.system.service import readiness
from contract.money import Network


def test_ethereum_is_watched_only_where_usdt_is_configured(settings: Settings) -> None:
    every = settings.model_copy(update={"chain_watchers": list(Network)})
    assert watched_networks(every) == [Network.bitcoin, Network.tron]
    with_usdt = every.model_copy(update={"ethereum_usdt_contract": "0x" + "11" * 20})
    assert watched_networks(with_usdt) == list(Network)


def test_confirmations_default_per_environment_and_can_be_overridden(settings: Settings) -> None:
    production = {Network.bitcoin: 2, Network.ethereum: 12, Network.tron: 19}
    live = settings.model_copy(update={"environment": Environment.production})
    assert {n: live.confirmations_required(n) for n in Network} == production
    assert {n: settings.confirmations_required(n) for n in Network} == dict.fromkeys(Network, 1)
    tuned = Settings(chain_confirmations={"bitcoin": 6})
    assert tuned.confirmations_required(Network.bitcoin) == 6
    with pytest.raises(ValueError, match="at least 1"):
        Settings(chain_confirmations={"tron": 0})


async def test_readyz_names_each_watched_network_until_its_watcher_ticks(
    settings: Settings, runtime: Runtime
) -> None:
    watched = settings.model_copy(update={"chain_watchers": [Network.bitcoin, Network.tron]})
    async with open_runtime(watched) as runtime:
        checks = await readiness(runtime)
    assert checks["bitcoin_watcher"] == checks["tron_watcher"] == "down: no tick yet"
    assert "ethereum_watcher" not in checks

    async with open_runtime(settings) as runtime:
        assert not any(name.endswith("_watcher") for name in await readiness(runtime))


async def test_the_worker_gets_one_watcher_per_watched_network(settings: Settings) -> None:
    watched = settings.model_copy(
        update={"chain_watchers": [Network.tron, Network.bitcoin], "chain_confirmations": {}}
    )
    async with open_runtime(watched) as runtime, open_watchers(runtime) as watchers:
        assert [(w.network, w.confirmations) for w in watchers] == [
            (Network.tron, 1),
            (Network.bitcoin, 1),
        ]


def test_every_address_purpose_is_in_the_claims_table() -> None:
    assert set(claims.CLAIMS) == set(AddressPurpose)
    assert claims.claim_for(AddressPurpose.deposit) is deposits.on_payment
    assert claims.claim_for(AddressPurpose.hot_wallet) is None
    assert claims.claim_for("no_such_purpose") is None
