"""Many clients at once against one provider: no 5xx, no lost request, no double redemption.

32 clients (threads, each with its own ``requests.Session``) loop over every grant for a bounded
time (``MOCKIDP_STRESS_SECONDS``, default 30), in teams of four that also race: the four post
the same authorization code, or the same refresh token, at the same instant (a barrier).  What a
user may rely on, whatever the timing:

- every answer is a deliberate one (never a 5xx, never a dropped connection);
- an authorization code is redeemed once, a refresh token rotates once; a replay or a reuse
  revokes what the grant issued (RFC 6749 §4.1.2, RFC 9700 §4.14.2), however the race went;
- the journal holds every request exactly once, the stores stay bounded.

Nothing here asserts on wall-clock time: the duration only bounds how long the load runs.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import requests

from mockidp import MockIdP

from .conftest import pkce_pair, query_of

STRESS_SECONDS = float(os.environ.get("MOCKIDP_STRESS_SECONDS", "30"))
TEAMS = 8
TEAM_SIZE = 4  # 32 clients in all; each team races codes and refresh tokens among its members
TIMEOUT = 30.0  # per request and per barrier: a hung server fails the test instead of hanging it
JOURNAL_SIZE = 200_000
REDIRECT = "http://localhost:3000/callback"
WEB = ("web-app", "web-secret")
SERVICE = ("orders-service", "orders-secret")
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"
MAX_PROBLEMS = 200  # kept for the failure message; more are counted, not kept

CONFIG: dict[str, Any] = {
    "journal_size": JOURNAL_SIZE,
    "journal_bytes": 1 << 30,  # every exchange kept: the count bounds it here, not the bytes
    "users": {
        "alice": {"claims": {"name": "Alice Admin", "email": "alice@example.com"}},
        "bob": {"password": "bob-password", "claims": {"name": "Bob Builder"}},
    },
    "clients": {
        "web-app": {"secret": "web-secret", "redirect_uris": [REDIRECT]},
        "orders-service": {"secret": "orders-secret", "grant_types": ["client_credentials"],
                           "audience": ["orders-api"]},
    },
}


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


class Problems:
    """Everything that went wrong, from every thread (bounded, counted)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[str] = []
        self.count = 0

    def add(self, text: str) -> None:
        with self._lock:
            self.count += 1
            if len(self.items) < MAX_PROBLEMS:
                self.items.append(text)

    def report(self) -> str:
        return f"{self.count} problem(s), first ones:\n" + "\n".join(self.items[:40])


class FlowFailed(Exception):
    """A step answered something else than expected (already recorded): skip the rest of
    this flow."""


class Client:
    """One client: its own HTTP session, a tally of what it sent and what came back."""

    def __init__(self, idp: MockIdP, name: str, problems: Problems) -> None:
        self.idp = idp
        self.name = name
        self.problems = problems
        self.http = requests.Session()
        self.base = idp.issuer_url()
        self.sent: Counter[tuple[str, str, int]] = Counter()
        self.refresh_tokens = 0  # refresh tokens handed to this client
        self.codes = 0  # authorization codes handed to this client
        self.devices = 0  # device authorizations started

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        kwargs.setdefault("allow_redirects", False)
        url = self.base + path
        try:
            response = self.http.request(method, url, **kwargs)
        except requests.RequestException as exc:
            self.problems.add(f"{self.name}: {method} {path}: connection error {exc!r}")
            raise FlowFailed from None
        self.sent[(method, urlsplit(url).path, response.status_code)] += 1
        if response.status_code >= 500:
            self.problems.add(f"{self.name}: {method} {path} -> {response.status_code} "
                              f"{response.text[:300]}")
        return response

    def expect(self, response: requests.Response, status: int, error: str | None = None,
               what: str = "") -> dict[str, Any]:
        """The JSON body of an answer that must have ``status`` (and ``error``)."""
        body: dict[str, Any] = {}
        if "json" in response.headers.get("Content-Type", ""):
            body = response.json()
        if response.status_code != status or (error is not None and body.get("error") != error):
            self.problems.add(
                f"{self.name}: {what or response.request.method} {response.request.path_url}: "
                f"expected {status} {error or ''}, got {response.status_code} "
                f"{response.text[:300]}")
            raise FlowFailed
        return body

    def check(self, condition: bool, message: str, *, go_on: bool = False) -> None:
        """Record ``message`` unless ``condition``; stop the flow unless ``go_on``."""
        if not condition:
            self.problems.add(f"{self.name}: {message}")
            if not go_on:
                raise FlowFailed

    # -- endpoints --------------------------------------------------------------------------
    def token(self, data: dict[str, str], auth: tuple[str, str] | None = WEB
              ) -> requests.Response:
        response = self.request("POST", "/token", data=data, auth=auth)
        if response.status_code == 200 and "refresh_token" in response.json():
            self.refresh_tokens += 1
        return response

    def active(self, token: str) -> bool:
        body = self.expect(self.request("POST", "/introspect", data={"token": token},
                                        auth=WEB), 200, what="introspect")
        return bool(body.get("active"))

    def code(self, user: str = "alice") -> tuple[str, str]:
        """An authorization code (approved through login_hint, with PKCE) and its verifier."""
        verifier, challenge = pkce_pair()
        state = os.urandom(8).hex()
        response = self.request("GET", "/authorize", params={
            "client_id": "web-app", "redirect_uri": REDIRECT, "response_type": "code",
            "scope": "openid profile offline_access", "login_hint": user, "state": state,
            "nonce": state, "code_challenge": challenge, "code_challenge_method": "S256"})
        self.expect(response, 302, what="authorize")
        location = response.headers["Location"]
        fields = query_of(location)
        self.check(location.startswith(REDIRECT) and "code" in fields
                   and fields.get("state") == state, f"authorize redirected to {location}")
        self.codes += 1
        return fields["code"], verifier

    def redeem(self, code: str, verifier: str) -> requests.Response:
        return self.token({"grant_type": "authorization_code", "code": code,
                           "redirect_uri": REDIRECT, "code_verifier": verifier})


# -- one client's round of every grant ---------------------------------------------------------

def every_grant(c: Client) -> None:
    """Each grant once, with the userinfo, introspection and revocation checks around it."""
    for flow in (client_credentials, password_userinfo_revoke, code_refresh_rotation,
                 device_code, token_exchange_and_jwt_bearer):
        try:
            flow(c)
        except FlowFailed:
            pass  # recorded where it failed
        except Exception:
            c.problems.add(f"{c.name}: {flow.__name__} raised:\n{traceback.format_exc()}")


def client_credentials(c: Client) -> None:
    body = c.expect(c.token({"grant_type": "client_credentials"}, auth=SERVICE), 200)
    claims = claims_of(body["access_token"])
    c.check(claims.get("aud") in ("orders-api", ["orders-api"]), f"aud {claims.get('aud')}")
    c.check(c.active(body["access_token"]), "client_credentials token not active")


def password_userinfo_revoke(c: Client) -> None:
    body = c.expect(c.token({"grant_type": "password", "username": "bob",
                             "password": "bob-password", "scope": "openid profile"}), 200)
    access = body["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    info = c.expect(c.request("GET", "/userinfo", headers=bearer), 200)
    c.check(info.get("sub") == "bob" and info.get("name") == "Bob Builder", f"userinfo {info}")
    c.expect(c.token({"grant_type": "password", "username": "bob", "password": "wrong"}),
             400, "invalid_grant")
    c.check(c.active(access), "password-grant access token not active")
    c.expect(c.request("POST", "/revoke", data={"token": access}, auth=WEB), 200)
    c.check(not c.active(access), "revoked access token still active")
    c.expect(c.request("GET", "/userinfo", headers=bearer), 401, "invalid_token")
    refresh = body.get("refresh_token")
    if refresh is not None:
        c.expect(c.request("POST", "/revoke", data={"token": refresh,
                                                    "token_type_hint": "refresh_token"},
                           auth=WEB), 200)
        c.check(not c.active(refresh), "revoked refresh token still active")


def code_refresh_rotation(c: Client) -> None:
    code, verifier = c.code()
    first = c.expect(c.redeem(code, verifier), 200, what="redeem code")
    id_claims = claims_of(first["id_token"])
    c.check(id_claims.get("sub") == "alice", f"id_token sub {id_claims.get('sub')}")
    refresh = first["refresh_token"]
    # rotation: each use hands out a new token and retires the one presented
    second = c.expect(c.token({"grant_type": "refresh_token", "refresh_token": refresh}), 200)
    c.check(second["refresh_token"] != refresh, "refresh token not rotated")
    c.check(not c.active(refresh), "rotated-away refresh token still active")
    c.check(c.active(second["refresh_token"]), "new refresh token not active")
    third = c.expect(c.token({"grant_type": "refresh_token",
                              "refresh_token": second["refresh_token"]}), 200)
    # replaying the code (not raced) is refused and revokes the whole grant
    c.expect(c.redeem(code, verifier), 400, "invalid_grant", what="replayed code")
    c.check(not c.active(third["refresh_token"]), "code replay left a refresh token active")
    c.check(not c.active(third["access_token"]), "code replay left an access token active")


def device_code(c: Client) -> None:
    start = c.expect(c.request("POST", "/device_authorization",
                               data={"scope": "openid profile"}, auth=WEB), 200)
    c.devices += 1
    poll = {"grant_type": DEVICE_GRANT, "device_code": start["device_code"]}
    c.idp.approve_device(start["user_code"], user="bob")
    tokens = c.expect(c.token(poll), 200, what="device poll")
    c.check(claims_of(tokens["id_token"]).get("sub") == "bob", "device id_token sub")
    c.expect(c.token(poll), 400, "invalid_grant", what="second device poll")


def token_exchange_and_jwt_bearer(c: Client) -> None:
    subject = c.expect(c.token({"grant_type": "password", "username": "alice",
                                "password": "x", "scope": "openid profile"}), 200)
    exchanged = c.expect(c.token({
        "grant_type": TOKEN_EXCHANGE, "subject_token": subject["access_token"],
        "subject_token_type": ACCESS_TYPE, "audience": "orders-api"}), 200, what="exchange")
    c.check(exchanged.get("issued_token_type") == ACCESS_TYPE, f"exchange {exchanged}")
    c.check(claims_of(exchanged["access_token"]).get("sub") == "alice", "exchanged sub")
    assertion = c.idp.mint("bob", claims={"aud": c.base + "/token"})
    bearer = c.expect(c.token({"grant_type": JWT_BEARER, "assertion": assertion,
                               "scope": "profile"}), 200, what="jwt-bearer")
    c.check(claims_of(bearer["access_token"]).get("sub") == "bob", "jwt-bearer sub")
    c.expect(c.token({"grant_type": JWT_BEARER, "assertion": assertion}), 400,
             "invalid_grant", what="replayed jwt-bearer assertion")


# -- teams: races on one code and one refresh token --------------------------------------------

@dataclass
class Team:
    barrier: threading.Barrier
    go: bool = True
    shared: tuple[str, str] | None = None
    results: list[requests.Response | None] = field(default_factory=list)
    code_races: int = 0
    refresh_races: int = 0


def error_of(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def judge_race(c: Client, results: list[requests.Response | None], what: str
               ) -> dict[str, Any]:
    """Exactly one 200, every other answer ``invalid_grant``; the winner's body."""
    statuses = [(r.status_code, error_of(r)) if r is not None else None for r in results]
    winners = [r for r in results if r is not None and r.status_code == 200]
    others = [s for s in statuses if s is not None and s[0] != 200]
    c.check(len(winners) == 1 and all(s == (400, "invalid_grant") for s in others)
            and None not in statuses, f"{what} raced by {len(results)}: {statuses}")
    return winners[0].json()


def race(team: Team, k: int, c: Client, what: str) -> None:
    """One race: member 0 prepares the code or refresh token, all post it at once, member 0
    judges the outcome."""
    if k == 0:
        team.shared, team.results = None, [None] * TEAM_SIZE
        try:
            if what == "code":
                team.shared = c.code()
            else:
                body = c.expect(c.token({"grant_type": "password", "username": "alice",
                                         "password": "x", "scope": "openid offline_access"}),
                                200)
                team.shared = (body["refresh_token"], "")
        except FlowFailed:
            pass
    team.barrier.wait(TIMEOUT)
    shared = team.shared
    if shared is not None:
        try:
            if what == "code":
                team.results[k] = c.redeem(*shared)
            else:
                team.results[k] = c.token({"grant_type": "refresh_token",
                                           "refresh_token": shared[0]})
        except FlowFailed:
            pass
    team.barrier.wait(TIMEOUT)
    if k != 0 or shared is None:
        return
    try:
        winner = judge_race(c, team.results, what)
        if what == "code":
            team.code_races += 1
            # RFC 6749 §4.1.2: the code was used more than once, so what it granted is revoked,
            # whether the replay reached the provider before or after the tokens were issued.
            for kind in ("refresh_token", "access_token"):
                c.check(not c.active(winner[kind]), f"raced code: the winner's {kind} is "
                        "still active after the replays", go_on=True)
        else:
            team.refresh_races += 1
            c.check(winner["refresh_token"] != shared[0], "raced refresh: not rotated")
            c.check(not c.active(shared[0]), "raced refresh: the presented token is active")
            # RFC 9700 §4.14.2: a rotated-away token came back, so the whole family is revoked,
            # the successor included: no live token descends from the raced one.
            for kind in ("refresh_token", "access_token"):
                c.check(not c.active(winner[kind]), f"raced refresh: the successor's {kind} "
                        "is still active after reuse was detected", go_on=True)
            c.expect(c.token({"grant_type": "refresh_token",
                              "refresh_token": winner["refresh_token"]}),
                     400, "invalid_grant", what="refresh with the raced successor (RFC 9700)")
    except FlowFailed:
        pass


def member(team: Team, k: int, c: Client, deadline: float, problems: Problems) -> None:
    try:
        first = True
        while True:
            if k == 0:
                team.go = first or time.monotonic() < deadline  # at least one full round
            team.barrier.wait(TIMEOUT)
            if not team.go:
                return
            first = False
            every_grant(c)
            race(team, k, c, "code")
            race(team, k, c, "refresh")
    except threading.BrokenBarrierError:
        problems.add(f"{c.name}: its team's barrier broke (another member failed)")
    except BaseException:
        problems.add(f"{c.name}: crashed:\n{traceback.format_exc()}")
        team.barrier.abort()


@pytest.fixture(scope="module")
def idp() -> Iterator[MockIdP]:
    provider = MockIdP(CONFIG)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


def test_32_clients_every_grant_with_races(idp: MockIdP) -> None:
    problems = Problems()
    teams = [Team(threading.Barrier(TEAM_SIZE)) for _ in range(TEAMS)]
    clients = [Client(idp, f"client-{t}.{k}", problems)
               for t in range(TEAMS) for k in range(TEAM_SIZE)]
    deadline = time.monotonic() + STRESS_SECONDS
    threads = [
        threading.Thread(target=member, name=clients[t * TEAM_SIZE + k].name, daemon=True,
                         args=(teams[t], k, clients[t * TEAM_SIZE + k], deadline, problems))
        for t in range(TEAMS) for k in range(TEAM_SIZE)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(STRESS_SECONDS + 10 * TIMEOUT)
        hung = [t.name for t in threads if t.is_alive()]
        assert not hung, f"clients never finished: {hung}"
    finally:
        for team in teams:
            team.barrier.abort()
        for client in clients:
            client.close()

    assert problems.count == 0, problems.report()
    assert all(team.code_races >= 1 and team.refresh_races >= 1 for team in teams)

    # The server is still up and its keys still verify what it signed.
    with requests.Session() as http:
        doc = http.get(idp.issuer_url() + "/.well-known/openid-configuration", timeout=TIMEOUT)
        assert doc.status_code == 200
        token = http.post(idp.issuer_url() + "/token", auth=SERVICE, timeout=TIMEOUT,
                          data={"grant_type": "client_credentials"}).json()["access_token"]
        key = jwt.PyJWKClient(idp.issuer_url() + "/jwks").get_signing_key_from_jwt(token)
        jwt.decode(token, key.key, algorithms=[key.algorithm_name], audience="orders-api",
                   issuer=idp.issuer_url())
    after = Counter({("GET", "/default/.well-known/openid-configuration", 200): 1,
                     ("POST", "/default/token", 200): 1, ("GET", "/default/jwks", 200): 1})

    # No request lost, none counted twice: the journal holds exactly what the clients sent.
    sent = sum((c.sent for c in clients), Counter()) + after
    total = sum(sent.values())
    entries = idp.calls()
    assert len(idp.journal) == len(entries) == min(total, idp.journal.size)
    journaled = Counter((e.method, e.path, e.status) for e in entries)
    if total <= idp.journal.size:
        assert journaled == sent, {k: (sent[k], journaled[k])
                                   for k in sent.keys() | journaled.keys()
                                   if sent[k] != journaled[k]}
    else:  # a faster server outgrew the ring buffer: what it kept was all sent
        assert not journaled - sent
    seqs = [e.seq for e in entries]
    assert len(set(seqs)) == len(seqs), "two journal entries share a sequence number"
    assert not [e for e in entries if e.status >= 500]

    # The stores are bounded by what was handed out (nothing leaks, nothing is duplicated).
    counts = idp.issuer().store.counts()
    assert counts["codes"] <= sum(c.codes for c in clients)
    assert counts["refresh_tokens"] <= sum(c.refresh_tokens for c in clients)
    assert counts["device_authorizations"] <= sum(c.devices for c in clients)
    assert counts["sessions"] <= sum(c.codes for c in clients)
    assert counts["interactions"] == counts["pushed_requests"] == 0
    assert counts["opaque_access_tokens"] == 0


def test_a_small_journal_keeps_the_latest_exchanges_under_load() -> None:
    size, threads, each = 64, 16, 25
    with MockIdP({"journal_size": size}) as small:
        url = small.issuer_url() + "/.well-known/openid-configuration"
        statuses: list[int] = []
        lock = threading.Lock()

        def hammer() -> None:
            with requests.Session() as http:
                for _ in range(each):
                    status = http.get(url, timeout=TIMEOUT).status_code
                    with lock:
                        statuses.append(status)

        workers = [threading.Thread(target=hammer, daemon=True) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(10 * TIMEOUT)
        assert statuses == [200] * threads * each
        entries = small.calls()
        assert len(small.journal) == len(entries) == size
        seqs = {e.seq for e in entries}
        assert len(seqs) == size and max(seqs) == threads * each
        assert min(seqs) > threads * each - size - threads


@pytest.mark.parametrize("door", ["python", "http"])
def test_concurrent_additions_are_all_kept(door: str) -> None:
    """Users and clients added from many threads at once are all there afterwards (the core
    documents every method as thread-safe; the control API is used the same way)."""
    threads, each = 8, 300 if door == "python" else 40
    with MockIdP() as idp:
        control = idp.url + "/_mockidp"
        failures: list[str] = []

        def add(k: int) -> None:
            with requests.Session() as http:
                for i in range(each):
                    if door == "python":
                        idp.add_user(f"user-{k}-{i}", {"team": k})
                        idp.add_client(f"client-{k}-{i}", "secret")
                        continue
                    for kind in ("users", "clients"):
                        body = {"id": f"{kind[:-1]}-{k}-{i}"}
                        response = http.post(f"{control}/{kind}", json=body, timeout=TIMEOUT)
                        if response.status_code != 201:
                            failures.append(f"{kind} {body}: {response.status_code}")

        workers = [threading.Thread(target=add, args=(k,), daemon=True) for k in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(10 * TIMEOUT)
        assert not failures
        wanted = {f"{k}-{i}" for k in range(threads) for i in range(each)}
        users = {u.removeprefix("user-") for u in idp.users()}
        clients = {c.removeprefix("client-") for c in idp.clients()}
        assert not wanted - clients, f"{len(wanted - clients)} of {len(wanted)} clients lost"
        assert not wanted - users, f"{len(wanted - users)} of {len(wanted)} users lost"
