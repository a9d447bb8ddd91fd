"""Minting through a running mockidp: the client side of its control API's ``POST
/_mockidp/mint`` and ``/_mockidp/mint-bad`` (`mockidp.web.control`), for ``mockidp mint --url``.

A token minted there is signed with that server's keys and names its issuer URL, so that server
(and whatever verifies against its JWKS) accepts it; a token minted by another process with
keys of its own is accepted by no server.  Flask-free: `requests` only (the command line
imports this module only for ``--url``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from mockidp.core.errors import MockIdPError
from mockidp.web.paths import CONTROL_PREFIX

TIMEOUT = 10.0  # seconds to wait for the server's answer


def mint_through(url: str, fields: Mapping[str, Any], kind: str | None = None,
                 control_token: str | None = None, timeout: float = TIMEOUT) -> str:
    """The token the server at ``url`` (its root, e.g. ``http://127.0.0.1:8080``) mints: a
    JSON POST of ``fields`` (the control API's mint fields; None values left out) to
    ``/_mockidp/mint``, or with ``kind`` to ``/_mockidp/mint-bad``, the control token as
    ``Authorization: Bearer``.

    Blocks up to ``timeout`` seconds.  A bad URL, a server that does not answer, an answer
    other than 2xx or one without a token raises `MockIdPError` naming the URL and the cause.
    """
    base = url.strip().rstrip("/").removesuffix(CONTROL_PREFIX)
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MockIdPError(f"expected the URL of a mockidp server, e.g. http://127.0.0.1:8080, "
                           f"got {url!r}")
    route = f"{base}{CONTROL_PREFIX}/{'mint' if kind is None else 'mint-bad'}"
    body = {name: value for name, value in {**fields, "kind": kind}.items() if value is not None}
    headers = {"Authorization": f"Bearer {control_token}"} if control_token else {}
    try:
        response = requests.post(route, json=body, headers=headers, timeout=timeout,
                                 allow_redirects=False)
    except requests.exceptions.SSLError:
        raise MockIdPError(f"{route}: the server's TLS certificate is not trusted; trust the "
                           "certificate file 'mockidp serve' prints with "
                           "REQUESTS_CA_BUNDLE=FILE") from None
    except requests.Timeout:
        raise MockIdPError(f"{route}: no answer within {timeout:g} s") from None
    except requests.ConnectionError:
        raise MockIdPError(f"cannot reach mockidp at {base}: nothing answers there; is "
                           "'mockidp serve' running, at this host and port?") from None
    except requests.RequestException as exc:  # a URL or a header requests refuses
        raise MockIdPError(f"{route}: {exc}") from None
    return _token_of(response.status_code, _json_of(response), route, control_token)


def _json_of(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:  # not JSON
        return None


def _token_of(status: int, answer: Any, route: str, control_token: str | None) -> str:
    """The token of the control API's answer, or `MockIdPError` saying what went wrong."""
    said = answer.get("error_description") if isinstance(answer, dict) else None
    if status == 401:
        said = ("the control token sent is not the server's" if control_token else
                "the server wants its control token (mockidp mint: --control-token or "
                "MOCKIDP_CONTROL_TOKEN)")
    elif status == 404:
        said = (f"{said or 'not found'}; is the URL the server's root (no issuer path), and "
                "its control API on (no --no-control)?")
    if not 200 <= status < 300:
        raise MockIdPError(f"{route} answered {status}: "
                           f"{said or 'not the control API JSON (is it a mockidp server?)'}")
    token = answer.get("token") if isinstance(answer, dict) else None
    if not isinstance(token, str):
        raise MockIdPError(f"{route} answered {status} without a token in a JSON object (is "
                           "it a mockidp server?)")
    return token
