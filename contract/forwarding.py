"""Who the client is, when a request reaches us through someone else: the web app's signed
client header and the rule for reading `X-Forwarded-For` from proxies we trust.

Invariants: only the holder of the key (derived from SECRET_KEY for `PURPOSE`) can write a
client header that `read_client_header` accepts, and only for `MAX_AGE_S`; an
`X-Forwarded-For` is read only as far as its hops are trusted proxies, so the address a
caller writes itself is never the one we believe.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# `X-Qpeapay-Client: v1,t=<unix seconds>,ip=<address>,dev=<device id or empty>,sig=<hex>`
CLIENT_HEADER = "x-qpeapay-client"
# The HKDF `info` purpose both apps derive the signing key for, from SECRET_KEY.
PURPOSE = "client-address"
# A header is honoured this long after it was written (clocks of one deployment agree).
MAX_AGE_S = 60
_VERSION = "v1"
DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Client:
    """The address to count a request against, and the device it came from when known."""

    ip: str
    device: str | None = None


def parse_networks(values: Iterable[str]) -> list[Network]:
    """CIDRs (or single addresses) as networks; a bad entry raises ValueError naming it."""
    networks = []
    for value in values:
        text = value.strip()
        if text:
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError as exc:
                raise ValueError(f"{text!r} is not an IP address or CIDR") from exc
    return networks


def proxies_setting(value: object) -> object:
    """A TRUSTED_PROXIES setting as read from the environment ("10.0.0.0/8, 192.0.2.1") or
    given as a list; every entry must parse, so a typo stops the process at start."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        parse_networks(str(part) for part in value)
    return value


def _address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip.version == net.version and ip in net for net in proxies)


def forwarded_client(peer: str, forwarded_for: Sequence[str], proxies: Sequence[Network]) -> str:
    """The client's address: the peer itself, unless it is a trusted proxy; then the
    rightmost `X-Forwarded-For` hop that is not a trusted proxy (hops to its left were
    written by whoever the proxy heard from, so they prove nothing)."""
    client = _address(peer)
    if client is None:
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    while _trusted(client, proxies) and hops:
        previous = _address(hops.pop())
        if previous is None:
            break  # a garbled hop: the nearest address we can vouch for is the answer
        client = previous
    return client


def _mac(key: bytes, stamp: int, ip: str, device: str) -> str:
    message = f"{_VERSION}|{stamp}|{ip}|{device}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def client_header(key: bytes, client: Client, now: int) -> str:
    """The header value the web app sends, vouching for `client` at time `now`."""
    device = client.device or ""
    return f"{_VERSION},t={now},ip={client.ip},dev={device},sig={_mac(key, now, client.ip, device)}"


def read_client_header(key: bytes, value: str, now: int) -> Client | None:
    """The client a header vouches for, or None when it is malformed, forged or stale."""
    version, *fields = value.strip().split(",")
    parts = dict(field.partition("=")[::2] for field in fields)
    if version != _VERSION or set(parts) != {"t", "ip", "dev", "sig"}:
        return None
    stamp, ip, device = parts["t"], _address(parts["ip"]), parts["dev"]
    if (
        not (stamp.isascii() and stamp.isdigit())
        or ip is None
        or (device and not DEVICE_ID.match(device))
    ):
        return None
    if not hmac.compare_digest(_mac(key, int(stamp), parts["ip"], device), parts["sig"]):
        return None
    if abs(now - int(stamp)) > MAX_AGE_S:
        return None
    return Client(ip=ip, device=device or None)
