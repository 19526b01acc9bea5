"""Addresses for the servers livevision runs (the web view, `livevision serve`): which host is loopback, the
machine's addresses other machines reach it at, `[HOST:]PORT` options, and the access tokens."""

from __future__ import annotations

import ipaddress
import logging
import secrets
import socket

from ..errors import UsageError

log = logging.getLogger(__name__)


def new_token() -> str:
    """A token for the web view: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or a name) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_addresses() -> list[str]:
    """This machine's addresses, loopback included: every interface's where psutil is installed, else
    those the host name resolves to and those the default routes leave from."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return [a.address for nic in psutil.net_if_addrs().values() for a in nic
                if a.family in (socket.AF_INET, socket.AF_INET6)]
    found = []
    try:
        found += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)]
    except OSError:
        pass
    # connect() on a UDP socket sends nothing: it only picks the route (to documentation addresses) and with
    # it the address this machine would send from.
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                udp.connect((probe, 9))
                found.append(udp.getsockname()[0])
        except OSError:
            pass
    return found


def network_addresses(ipv4: bool = True, ipv6: bool = False) -> list[str]:
    """The addresses other machines can reach this one at: no loopback, no IPv6 link-local (a browser
    needs its interface too); IPv4 first, each once."""
    kept: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for text in _host_addresses():
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            continue
        if address.is_loopback or address.is_unspecified or (address.is_link_local and address.version == 6):
            continue
        if (ipv4 if address.version == 4 else ipv6) and address not in kept:
            kept.append(address)
    return [str(a) for a in sorted(kept, key=lambda a: a.version)]


def parse_address(text: str, option: str = "--serve") -> tuple[str, int]:
    """"8080", ":8080", "0.0.0.0:8080" or "[::1]:8080" -> (host, port); host 127.0.0.1 when not given."""
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]") if sep else ""
    try:
        port = int(port_text)
    except ValueError:
        raise UsageError(f"{option} takes [HOST:]PORT, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"{option}: port {port} is out of range (0-65535)")
    return host or "127.0.0.1", port




def access_token(host: str, port: int, given: str | None, option: str = "--serve-token") -> str | None:
    """The token a server asks for: `given`; None for "none" (with a warning off loopback); made up when
    not given, unless the host is loopback (anyone who can reach the port would see the camera)."""
    if given is None:
        return None if is_loopback(host) else new_token()
    if given.strip().lower() == "none":
        if not is_loopback(host):
            log.warning("%s none: %s without a token: anyone who can reach port %d gets in", option, host, port)
        return None
    if not given.strip():
        raise UsageError(f"{option}: an empty token would let anyone in")
    return given


__all__ = ["access_token", "is_loopback", "network_addresses", "new_token", "parse_address"]
