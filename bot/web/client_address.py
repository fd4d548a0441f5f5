"""Who is on the other end of a request: the client's network address, and a keyed name for it.

Behind a reverse proxy every request comes from the proxy. `X-Forwarded-For` names the client, but
anyone can send that header, so it is read only when the request came from a proxy the clinic
trusts (`TRUSTED_PROXIES`: addresses or networks, comma-separated). The proxies append the address
they saw; reading from the right, the first hop that is not a trusted proxy is the client. Without
trusted proxies the peer address is the client, whatever the headers say.

Limits count per `ClientAddresses.key_of(address)`: an HMAC of the address under the application's
key, so the clinic database holds no IP address. IPv6 clients are counted per /64 (one home or one
phone usually has a whole /64, and can pick any address in it).
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import TYPE_CHECKING, Iterable, Optional, Sequence, Tuple, Union

if TYPE_CHECKING:
    from aiohttp import web

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
UNKNOWN_ADDRESS = "unknown"
IPV6_CLIENT_PREFIX = 64
KEY_HEX_CHARS = 32


def parse_networks(raw: Iterable[str]) -> Tuple[IPNetwork, ...]:
    """Networks from "10.0.0.1", "10.0.0.0/8" or "::1" texts; ValueError names a malformed one."""
    networks = []
    for text in raw:
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError as error:
            raise ValueError(f"not an IP address or network: {text.strip()!r}") from error
    return tuple(networks)


def parse_hop(text: str) -> Optional[IPAddress]:
    """The address in one X-Forwarded-For hop ("203.0.113.7", "203.0.113.7:5123", "[2001:db8::1]:80"),
    or None when it is not an address."""
    hop = text.strip()
    if hop.startswith("[") and "]" in hop:
        hop = hop[1:hop.index("]")]
    elif hop.count(":") == 1:  # IPv4 with a port
        hop = hop.split(":", 1)[0]
    try:
        return ipaddress.ip_address(hop)
    except ValueError:
        return None


class ClientAddresses:
    """Finds a request's client address through trusted proxies, and names it by a keyed hash."""

    def __init__(self, trusted_proxies: Sequence[IPNetwork], key: bytes) -> None:
        """Trust X-Forwarded-For only from `trusted_proxies`; hash addresses under `key`."""
        self.trusted_proxies = tuple(trusted_proxies)
        self._key = key

    def is_trusted(self, address: IPAddress) -> bool:
        """True if `address` is one of the clinic's own proxies."""
        return any(address in network for network in self.trusted_proxies)

    def resolve(self, peer: Optional[str], forwarded_for: Sequence[str] = ()) -> str:
        """The client's address: the peer, unless the peer is a trusted proxy; then, reading the
        X-Forwarded-For hops from the right, the first that is not a trusted proxy. A malformed hop
        stops the walk at the last address a trusted proxy vouched for."""
        address = parse_hop(peer or "")
        if address is None:
            return UNKNOWN_ADDRESS
        hops = [hop for header in forwarded_for for hop in header.split(",")]
        for hop in reversed(hops):
            if not self.is_trusted(address):
                break
            forwarded = parse_hop(hop)
            if forwarded is None:
                break
            address = forwarded
        return str(address)

    def key_of(self, address: str) -> str:
        """The keyed name the limits count under (never the address itself); IPv6 per /64."""
        parsed = parse_hop(address)
        if parsed is not None and parsed.version == 6:
            address = str(ipaddress.ip_network(f"{parsed}/{IPV6_CLIENT_PREFIX}", strict=False))
        digest = hmac.new(self._key, address.encode("utf-8"), hashlib.sha256).hexdigest()
        return digest[:KEY_HEX_CHARS]

    def of_request(self, request: "web.BaseRequest") -> str:
        """The client address of an aiohttp request."""
        return self.resolve(request.remote, request.headers.getall("X-Forwarded-For", []))

    def key_of_request(self, request: "web.BaseRequest") -> str:
        """The keyed client address of an aiohttp request (what per-address limits count under)."""
        return self.key_of(self.of_request(request))
