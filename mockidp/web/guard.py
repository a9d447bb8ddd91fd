"""What keeps pages of other sites and DNS-rebinding hosts from scripting a shared mockidp:
the control API and the dashboard, when no control token protects them, answer only

- requests whose ``Host`` is a loopback name (``localhost``, ``*.localhost``, 127.0.0.0/8,
  ``::1``), the public URL's host, or one of the ``allowed_hosts`` (the host the server is
  bound to, unless it is every address; config, ``MockIdP(allowed_hosts=)``, ``--allowed-hosts`` /
  ``MOCKIDP_ALLOWED_HOSTS``; ``*`` allows any): a rebinding page's ``Host`` is its own name
  (RFC 9110 §7.2);
- state-changing requests that are not cross-origin (``Origin`` other than the server's own,
  RFC 6454 §7; ``Sec-Fetch-Site: cross-site``, Fetch Metadata);
- POSTs whose body is JSON (``Content-Type: application/json``, empty bodies included): a form
  or a text body is what a page of another site can send without a CORS preflight.

A control token (``Authorization: Bearer``) is the protection when one is set: then these
checks stand aside.  Flask-free: `mockidp.web.app` asks `refusal` before every request.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from urllib.parse import urlsplit

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_ONLY_POSTS = frozenset({"/debugger", "/unlock"})  # a token to inspect; the unlock form


def hostname(host: str) -> str:
    """The name of a ``Host`` value, lower case, without port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def is_loopback(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_allowed(host: str, allowed: Collection[str], public_url: str | None) -> bool:
    """Whether the control API answers a request for ``host`` (see the module docs)."""
    name = hostname(host)
    if "*" in allowed or is_loopback(name) or name in allowed:
        return True
    return public_url is not None and name == (urlsplit(public_url).hostname or "")


Refusal = tuple[int, str, str]  # status, OAuth-style error code, why


def refusal(method: str, path: str, headers: Mapping[str, str], scheme: str,
            allowed: Collection[str], public_url: str | None) -> Refusal | None:
    """Why a control or dashboard request is refused: a foreign ``Host`` or a cross-origin
    change (403 ``access_denied``), a POST that is not JSON (400 ``invalid_request``, as the
    control API answers any body that is not JSON); None to answer it."""
    host = headers.get("Host", "")
    if not host_allowed(host, allowed, public_url):
        return 403, "access_denied", (
            f"Host {hostname(host)!r} is not one this mockidp answers its control API on "
            "(loopback, the public URL's host, the bound host); allow it with allowed_hosts "
            "in the config, --allowed-hosts or MOCKIDP_ALLOWED_HOSTS, or protect the control "
            "API with a control token")
    if method not in STATE_CHANGING:
        return None
    origin = headers.get("Origin")
    if (origin is not None and origin != f"{scheme}://{host}") or \
            headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        return 403, "access_denied", (
            "a cross-origin request may not change this mockidp (send it from the same "
            "origin, or set a control token and send it as a bearer token)")
    if method == "POST" and path not in READ_ONLY_POSTS:
        kind = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if kind != "application/json":
            return 400, "invalid_request", (
                f"expected Content-Type application/json, got {kind or 'none'} (control "
                "requests that change state are JSON; send {} for no arguments)")
    return None
