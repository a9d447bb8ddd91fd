"""DPoP server nonces (RFC 9449 §8, ``dpop_nonce = true``) across processes sharing one
store: two real ``mockidp serve --store`` processes on one real ``redis-server`` (which
process a request reaches is the test's choice, as a round-robin load balancer's would be),
and ``--workers 2`` on one port.  The client is built as a DPoP client builds its proofs
(PyJWT and cryptography: ``typ: dpop+jwt``, the public ``jwk``, ``htm``, ``htu``, ``iat``,
``jti``, ``nonce``, and ``ath`` with an access token; `tests.test_dpop.Prover`).

- A nonce handed out by one process (400 ``use_dpop_nonce`` with ``DPoP-Nonce``) redeems a
  client-credentials token at the other; the DPoP-bound token works at both processes'
  userinfo and introspection.
- A resource request (userinfo) at one process is accepted with the other's nonce, and both
  hand out the same nonce.
- The shared clock drives the nonces' windows everywhere: advanced at one process by a
  window, the other still takes the nonce; by two, it refuses it and hands out a new one that
  the first takes.
- ``--workers 2``: a nonce from one worker is taken by whichever worker answers.
- No Redis round trip of their own: with the whole shared state (``MockIdP(store=url)``) a
  steady DPoP token request costs the jti replay check alone, with nonces as without.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from mockidp import MockIdP
from mockidp.protocol.dpop import NONCE_LIFETIME

from .local_server import ServeProcess, mockidp_serve
from .redis_server import RedisServer
from .test_dpop import Prover
from .test_shared_round_trips import Counted

TIMEOUT = 10.0
PUBLIC = "http://idp.example"  # behind one load balancer: one issuer identifier for all
TOKEN_URL = f"{PUBLIC}/default/token"  # the URLs the client sees (its proofs' htu)
USERINFO_URL = f"{PUBLIC}/default/userinfo"
SVC = ("svc", "svc-secret")
WINDOW_START = 1_900_000_200  # a multiple of NONCE_LIFETIME: a nonce window begins here
CONFIG = """\
dpop_nonce = true

[clients.svc]
secret = "svc-secret"
grant_types = ["client_credentials"]
"""


def served_base(served: ServeProcess) -> str:
    line = served.line("Listening:")
    assert line is not None, served.output
    assert served.line("Server:") is not None, served.output
    return line.split()[1]


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "dpop.toml"
    path.write_text(CONFIG)
    return str(path)


@pytest.fixture
def pair(redis_server: RedisServer, config: str) -> Iterator[tuple[str, str]]:
    """Two ``mockidp serve --store`` processes on their own ports, one redis-server."""
    args = ("--port", "0", "--config", config, "--public-url", PUBLIC,
            "--store", redis_server.url)
    with mockidp_serve(*args) as a, mockidp_serve(*args) as b:
        yield served_base(a), served_base(b)


def token_at(base: str, prover: Prover, nonce: str | None, iat: int | None = None
             ) -> requests.Response:
    """A client-credentials token request with a DPoP proof, on a new connection."""
    extra: dict[str, Any] = {} if iat is None else {"iat": iat}
    with requests.Session() as fresh:
        return fresh.post(f"{base}/default/token", auth=SVC, timeout=TIMEOUT,
                          data={"grant_type": "client_credentials"},
                          headers={"DPoP": prover.proof("POST", TOKEN_URL, nonce=nonce,
                                                        **extra)})


def userinfo_at(base: str, prover: Prover, token: str, nonce: str | None) -> requests.Response:
    with requests.Session() as fresh:
        return fresh.get(f"{base}/default/userinfo", timeout=TIMEOUT, headers={
            "Authorization": f"DPoP {token}",
            "DPoP": prover.proof("GET", USERINFO_URL, access_token=token, nonce=nonce)})


def introspect_at(base: str, token: str) -> dict[str, Any]:
    answer = requests.post(f"{base}/default/introspect", auth=SVC, data={"token": token},
                           timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def told_to_use_a_nonce(answer: requests.Response, status: int = 400) -> str:
    """The ``DPoP-Nonce`` of a ``use_dpop_nonce`` answer."""
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == "use_dpop_nonce"
    if status == 401:
        assert answer.headers["WWW-Authenticate"].startswith('DPoP error="use_dpop_nonce"')
    nonce: str = answer.headers["DPoP-Nonce"]
    return nonce


def control_at(base: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{base}/_mockidp{path}", timeout=TIMEOUT, **kwargs)


def test_a_nonce_from_one_process_gets_a_token_at_the_other(pair: tuple[str, str]) -> None:
    a, b = pair
    prover = Prover()
    nonce = told_to_use_a_nonce(token_at(a, prover, None))
    answer = token_at(b, prover, nonce)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "DPoP"
    token = body["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": prover.jkt} and claims["iss"] == f"{PUBLIC}/default"
    for base in (b, a):  # the token and the nonce are good at both
        info = userinfo_at(base, prover, token, nonce)
        assert info.status_code == 200, info.text
        assert info.json()["sub"] == "svc"
        found = introspect_at(base, token)
        assert found["active"] is True and found["token_type"] == "DPoP"
        assert found["cnf"] == {"jkt": prover.jkt}


def test_a_resource_request_at_one_process_takes_the_other_s_nonce(pair: tuple[str, str]
                                                                   ) -> None:
    a, b = pair
    control_at(a, "POST", "/clock", json={"freeze": True}).raise_for_status()  # one window
    prover = Prover()
    nonce_a = told_to_use_a_nonce(token_at(a, prover, None))
    token = token_at(a, prover, nonce_a).json()["access_token"]
    nonce_b = told_to_use_a_nonce(userinfo_at(b, prover, token, None), status=401)
    assert nonce_b == nonce_a  # one nonce for the whole provider
    info = userinfo_at(a, prover, token, nonce_b)
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == "svc"
    wrong = userinfo_at(a, prover, token, "not-a-nonce-of-this-provider")
    assert told_to_use_a_nonce(wrong, status=401) == nonce_a


def test_the_shared_clock_moves_the_nonces_of_every_process(pair: tuple[str, str]) -> None:
    a, b = pair
    prover = Prover()
    control_at(a, "POST", "/clock", json={"freeze": WINDOW_START}).raise_for_status()
    now = WINDOW_START
    nonce = told_to_use_a_nonce(token_at(a, prover, None, iat=now))
    assert token_at(b, prover, nonce, iat=now).status_code == 200
    control_at(b, "POST", "/clock", json={"advance": NONCE_LIFETIME}).raise_for_status()
    now += NONCE_LIFETIME  # the next window: the nonce is the previous one's, still good
    assert control_at(a, "GET", "/clock").json()["now"] == now
    assert token_at(a, prover, nonce, iat=now).status_code == 200
    assert token_at(b, prover, nonce, iat=now).status_code == 200
    control_at(a, "POST", "/clock", json={"advance": NONCE_LIFETIME}).raise_for_status()
    now += NONCE_LIFETIME  # two windows on: too old everywhere
    fresh = told_to_use_a_nonce(token_at(b, prover, nonce, iat=now))
    assert fresh != nonce
    assert told_to_use_a_nonce(token_at(a, prover, nonce, iat=now)) == fresh
    answer = token_at(a, prover, fresh, iat=now)
    assert answer.status_code == 200, answer.text


def test_two_workers_on_one_port_take_each_other_s_nonces(redis_server: RedisServer,
                                                          config: str) -> None:
    with mockidp_serve("--port", "0", "--workers", "2", "--config", config,
                       "--public-url", PUBLIC, "--store", redis_server.url) as served:
        base = served_base(served)
        prover = Prover()
        nonce = told_to_use_a_nonce(token_at(base, prover, None))
        # each on a new connection, spread over the workers by the kernel: all 20 at the
        # worker that handed the nonce out has a chance of 2**-20
        answers = [token_at(base, prover, nonce) for _ in range(20)]
        assert [r.status_code for r in answers] == [200] * 20, [r.text for r in answers]


@pytest.mark.parametrize("nonces", [False, True])
def test_nonces_cost_no_round_trip(redis_server: RedisServer, nonces: bool) -> None:
    with MockIdP({"dpop_nonce": nonces, "clients": {"svc": {"secret": "svc-secret"}}},
                 store=redis_server.url, public_url=PUBLIC) as idp:
        counted = Counted(idp.state.client)  # type: ignore[attr-defined]
        prover = Prover()
        base = idp.url
        first = token_at(base, prover, None)
        nonce = told_to_use_a_nonce(first) if nonces else None
        assert token_at(base, prover, nonce).status_code == 200  # every key read: loaded
        counted.trips.clear()
        for _ in range(5):
            answer = token_at(base, prover, nonce)
            assert answer.status_code == 200, answer.text
        assert counted.trips == ["EVALSHA"] * 5  # the proof's jti, first use (RFC 9449 §11.1)
