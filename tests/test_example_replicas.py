"""examples/replicas/ without Docker: two mockidp replicas on one Redis behind nginx.

1. The files: docker-compose.yml (read with tests/test_container.py's YAML subset parser,
   cross-checked with PyYAML when installed), nginx.conf and mockidp.toml agree with each other
   and with the repository's Dockerfile.
2. The compose file, played: Debian's real ``nginx`` (a non-daemon master with one worker, run
   from a temporary prefix with a config made of the example's nginx.conf), a real
   ``redis-server`` (tests/redis_server.py) and two real ``mockidp serve`` processes started as
   the image starts them, with the example's environment.  Then the authorization code flow
   with PKCE runs many times through nginx, with requests (as a browser: the login page, its
   form POST, the redirect) and with Authlib's ``OAuth2Session`` (as an application), and every
   flow must succeed while both replicas serve parts of it: the login page from one, its POST
   answered by the other, the code redeemed at either.  Which replica answered is read from the
   ``X-Served-By`` header nginx.conf adds (``$upstream_addr``).
3. The same deployment without ``MOCKIDP_STORE`` breaks: the proof that nginx really splits
   every flow across the replicas and that the shared store is what holds it together.

What changes from the files as shipped, and why:

- host names: ``redis:6379`` → the test's redis-server, ``mockidp-1:8080`` and ``mockidp-2:8080``
  → ``127.0.0.1:<free port>`` (``--host 0.0.0.0 --port 8080`` of the image → ``--host 127.0.0.1
  --port <that port>``), nginx's ``listen 8080`` → ``127.0.0.1:<free port>``, and the published
  ``http://localhost:8080`` (``MOCKIDP_PUBLIC_URL``) → ``http://localhost:<nginx's port>``;
- the mounted config file → its path in examples/replicas/; each replica's ``/keys`` volume →
  a temporary folder of its own (each container has its own);
- nginx.conf is wrapped as the image's /etc/nginx/nginx.conf wraps conf.d/default.conf (an
  ``http`` block), with its logs, pid file and temporary folders under the test's prefix, so
  no root is needed (run as root, as in CI, its worker runs as root too).

Skipped without nginx (``apt-get install nginx``) or redis-server, except under ``.ci/run``
(``MOCKIDP_CI=1``), which installs both: there their absence fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import jwt
import pytest
import requests

from mockidp.core.settings import load_settings

from .a11y import elements, form_fields
from .conftest import ROOT, pkce_pair, query_of
from .local_server import ServeProcess, free_port, mockidp_serve
from .redis_server import RedisServer
from .test_container import (
    image_command,
    image_env,
    mounts,
    only,
    parse_yaml_subset,
    published,
)

EXAMPLE = ROOT / "examples" / "replicas"
COMPOSE_FILE = EXAMPLE / "docker-compose.yml"
COMPOSE: dict[str, Any] = parse_yaml_subset(COMPOSE_FILE.read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
REPLICAS = ("mockidp-1", "mockidp-2")
BALANCER = "mockidp"  # the load balancer: the provider as other containers name it
IN_CI = os.environ.get("MOCKIDP_CI") == "1"
HTTP_TIMEOUT = 10.0
REDIRECT = "http://localhost:3000/callback"
CLIENT = ("web-app", "web-secret")
SCOPE = "openid profile email"
FLOWS = 24            # browser code flows with requests, one after another
PARALLEL_FLOWS = 16   # the same, 4 at a time
AUTHLIB_FLOWS = 8     # code flow + refresh + userinfo, with Authlib's OAuth2Session


# -- the files ------------------------------------------------------------------------------------

def test_compose_file_parses_the_same_with_pyyaml_when_available() -> None:
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(COMPOSE_FILE.read_text()) == COMPOSE


def test_four_services_and_only_the_balancer_published_on_loopback() -> None:
    assert set(SERVICES) == {"redis", *REPLICAS, BALANCER}
    for name in ("redis", *REPLICAS):
        assert "ports" not in SERVICES[name], f"{name} is reached through the others only"
    assert published(SERVICES[BALANCER]) == {"8080": "127.0.0.1:8080"}


def test_redis_is_a_pinned_official_image_that_keeps_nothing() -> None:
    redis = SERVICES["redis"]
    assert re.fullmatch(r"redis:\d+\.\d+\.\d+-alpine", redis["image"]), redis["image"]
    command = redis["command"]
    assert command[0] == "redis-server"
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options == {"--save": "", "--appendonly": "no"}
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_both_replicas_are_the_image_on_one_redis() -> None:
    first, second = (SERVICES[name] for name in REPLICAS)
    assert first == second, "the replicas differ: they must be copies of one service"
    assert (EXAMPLE / first["build"]["context"]).resolve() == ROOT  # the repository's Dockerfile
    assert "command" not in first  # the image's own: mockidp serve --host 0.0.0.0 --port 8080
    env = first["environment"]
    store = urlsplit(env["MOCKIDP_STORE"])
    assert (store.scheme, store.hostname, store.port, store.path) == ("redis", "redis", 6379, "/0")
    assert first["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert env["MOCKIDP_PUBLIC_URL"] == "http://localhost:8080"  # one issuer, whoever answers
    assert env["MOCKIDP_ALLOWED_HOSTS"] == BALANCER  # other containers script it by that name
    settings = load_settings(EXAMPLE / mounts(first)[env["MOCKIDP_CONFIG"]])
    assert set(settings.users) == {"alice", "bob"}
    assert list(settings.clients["web-app"].redirect_uris) == [REDIRECT]
    assert settings.clients["web-app"].strict
    assert list(settings.clients["load-test"].grant_types) == ["client_credentials"]


def test_nginx_round_robins_over_the_replicas() -> None:
    balancer = SERVICES[BALANCER]
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+-alpine", balancer["image"]), balancer["image"]
    assert balancer["depends_on"] == {name: {"condition": "service_healthy"} for name in REPLICAS}
    conf = (EXAMPLE / mounts(balancer)["/etc/nginx/conf.d/default.conf"]).read_text()
    upstream = re.search(r"upstream (\w+) \{([^}]*)\}", conf)
    assert upstream, conf
    port = only("EXPOSE").args
    servers = re.findall(r"^\s*server (\S+);", upstream[2], flags=re.M)
    assert servers == [f"{name}:{port}" for name in REPLICAS]  # no weights, no ip_hash: plain RR
    assert not re.search(r"\b(ip_hash|hash|sticky|least_conn)\b", upstream[2])
    assert re.search(r"^\s*listen 8080;", conf, flags=re.M)  # the published container port
    assert f"proxy_pass http://{upstream[1]};" in conf
    assert "add_header X-Served-By $upstream_addr always;" in conf
    assert "non_idempotent" not in conf  # a POST is never sent to a second replica


# -- nginx, redis-server and the replicas, as docker-compose runs them ----------------------------

def nginx_path() -> str:
    """Debian's nginx, or skip (fail under CI) when there is none."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/bin/nginx") if Path(p).exists()), None)
    if found is None:
        if IN_CI:
            pytest.fail("nginx is not installed (.ci/run installs Debian's)", pytrace=False)
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return found


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"expected {old!r} once in nginx.conf"
    return text.replace(old, new)


def nginx_config(prefix: Path, port: int, replica_ports: dict[str, int]) -> str:
    """The example's nginx.conf with this machine's addresses, inside the ``http`` block the
    nginx image's own /etc/nginx/nginx.conf has around conf.d/default.conf."""
    conf = (EXAMPLE / "nginx.conf").read_text()
    conf = replace_once(conf, "listen 8080;", f"listen 127.0.0.1:{port};")
    for name, replica_port in replica_ports.items():
        conf = replace_once(conf, f"server {name}:8080;", f"server 127.0.0.1:{replica_port};")
    temp = "".join(f"    {kind}_temp_path {prefix}/{kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root;\n" if os.geteuid() == 0 else ""  # the worker can read the test's folders
    return (f"{user}worker_processes 1;\nerror_log {prefix}/error.log warn;\n"
            f"events {{\n    worker_connections 512;\n}}\n"
            f"http {{\n    access_log {prefix}/access.log;\n{temp}{conf}}}\n")


@contextlib.contextmanager
def running_nginx(prefix: Path, port: int, replica_ports: dict[str, int]) -> Iterator[str]:
    """nginx in the foreground on 127.0.0.1:``port``; its base URL as the browser names it."""
    executable = nginx_path()
    prefix.mkdir(parents=True, exist_ok=True)
    config = prefix / "nginx.conf"
    config.write_text(nginx_config(prefix, port, replica_ports))
    process = subprocess.Popen(
        [executable, "-p", f"{prefix}/", "-c", str(config), "-e", str(prefix / "error.log"),
         "-g", f"daemon off; pid {prefix}/nginx.pid;"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)

    def log() -> str:
        error_log = prefix / "error.log"
        return error_log.read_text() if error_log.exists() else ""

    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port),
                                                                        timeout=1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read() if process.stdout else ""
                pytest.fail(f"nginx did not start ({process.poll()}): {output}{log()}")
            time.sleep(0.05)
        yield f"http://localhost:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)  # nginx: fast shutdown, workers with it
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
        assert "[emerg]" not in log() and "[alert]" not in log(), log()


def replica_env(service: dict[str, Any], public: str, redis_url: str | None,
                keys: Path) -> dict[str, str]:
    """The container's environment (the image's ENV, then the service's) on this machine."""
    env = {**image_env(), **service["environment"]}
    env["MOCKIDP_CONFIG"] = str(EXAMPLE / mounts(service)[env["MOCKIDP_CONFIG"]])
    assert env["MOCKIDP_PUBLIC_URL"] == "http://localhost:8080"
    env["MOCKIDP_PUBLIC_URL"] = public
    assert env["MOCKIDP_KEYS_DIR"] == "/keys"
    env["MOCKIDP_KEYS_DIR"] = str(keys)
    if redis_url is None:
        del env["MOCKIDP_STORE"]
    else:
        env["MOCKIDP_STORE"] = env["MOCKIDP_STORE"].replace("redis://redis:6379/0", redis_url)
    return env


def replica_args(port: int) -> list[str]:
    """The image's command line after ``mockidp serve``, on 127.0.0.1:``port``."""
    argv = image_command()
    assert argv[:2] == ["mockidp", "serve"]
    host, port_at = argv.index("--host"), argv.index("--port")
    argv[host + 1], argv[port_at + 1] = "127.0.0.1", str(port)
    return argv[2:]


@dataclass
class Deployment:
    """The compose file, running: ``base`` is the balancer as the browser names it."""

    base: str
    replicas: dict[str, ServeProcess]  # "127.0.0.1:PORT" (nginx's $upstream_addr) → process
    redis: RedisServer | None

    @property
    def issuer(self) -> str:
        return f"{self.base}/default"


@contextlib.contextmanager
def deployment(folder: Path, shared: bool = True) -> Iterator[Deployment]:
    """redis-server, both replicas and nginx; ``shared=False``: the replicas without
    ``MOCKIDP_STORE`` (and no redis-server), each with its own in-memory state."""
    nginx_path()  # skip before starting anything
    nginx_port = free_port()
    public = f"http://localhost:{nginx_port}"
    ports = {name: free_port() for name in REPLICAS}
    with contextlib.ExitStack() as stack:
        redis = None
        if shared:
            redis = RedisServer(folder / "redis-data")
            redis.folder.mkdir(parents=True)
            stack.callback(redis.stop)
            redis.start()
        replicas: dict[str, ServeProcess] = {}
        for name, port in ports.items():
            env = replica_env(SERVICES[name], public, redis.url if redis else None,
                              folder / name / "keys")
            served = stack.enter_context(mockidp_serve(*replica_args(port), env=env))
            issuer = served.issuer()
            assert issuer == f"{public}/default", served.output
            replicas[f"127.0.0.1:{port}"] = served
        base = stack.enter_context(running_nginx(folder / "nginx", nginx_port, ports))
        yield Deployment(base, replicas, redis)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("replicas")) as running:
        yield running


# -- the code flow through the balancer -----------------------------------------------------------

@dataclass
class Flow:
    """Which replica answered each step of one code flow."""

    page: str = ""       # the login page (GET /authorize)
    login: str = ""      # its form POST, which issues the code
    token: str = ""      # the code redeemed
    others: list[str] = field(default_factory=list)  # refresh, userinfo, a second redemption


def served_by(response: requests.Response) -> str:
    replica: str = response.headers["X-Served-By"]
    return replica


def log_in(browser: requests.Session, url: str, username: str, flow: Flow) -> str:
    """The browser's part: the login page, the one-click user button; the redirect Location."""
    page = browser.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert page.status_code == 200, page.text
    assert page.headers["Content-Type"].startswith("text/html")
    flow.page = served_by(page)
    form = elements(page.text, "form")[0]
    assert form.attrs["method"] == "post"
    answer = browser.post(urljoin(page.url, form.attrs["action"]), allow_redirects=False,
                          data={**form_fields(page.text), "pick": username},
                          timeout=HTTP_TIMEOUT)
    assert answer.status_code in (302, 303), answer.text
    flow.login = served_by(answer)
    location: str = answer.headers["Location"]
    assert location.startswith(REDIRECT + "?"), location
    return location


def verified(token: str, jwks: dict[str, Any], issuer: str, audience: str) -> dict[str, Any]:
    key = next(k for k in jwks["keys"] if k["kid"] == jwt.get_unverified_header(token)["kid"])
    claims: dict[str, Any] = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["RS256"],
                                        audience=audience, issuer=issuer)
    return claims


def requests_flow(run: Deployment, jwks: dict[str, Any], username: str,
                  replay: bool = True) -> Flow:
    """The code flow with PKCE and a nonce as a browser and a plain requests back end run it;
    ``replay``: then the same code again, refused (3 or 4 requests: under strict round-robin,
    flows of both lengths start at either replica)."""
    flow = Flow()
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    query = {"response_type": "code", "client_id": CLIENT[0], "redirect_uri": REDIRECT,
             "scope": SCOPE, "state": state, "nonce": nonce, "code_challenge": challenge,
             "code_challenge_method": "S256"}
    with requests.Session() as browser:
        url = requests.Request("GET", f"{run.issuer}/authorize", params=query).prepare().url
        assert url is not None
        params = query_of(log_in(browser, url, username, flow))
    assert params["state"] == state and params["iss"] == run.issuer, params
    redeem = {"grant_type": "authorization_code", "code": params["code"],
              "redirect_uri": REDIRECT, "code_verifier": verifier}
    answer = requests.post(f"{run.issuer}/token", auth=CLIENT, data=redeem, timeout=HTTP_TIMEOUT)
    assert answer.status_code == 200, answer.text
    flow.token = served_by(answer)
    body = answer.json()
    claims = verified(body["id_token"], jwks, run.issuer, CLIENT[0])
    assert (claims["sub"], claims["nonce"]) == (username, nonce)
    assert verified(body["access_token"], jwks, run.issuer, CLIENT[0])["sub"] == username
    if not replay:
        return flow
    again = requests.post(f"{run.issuer}/token", auth=CLIENT, data=redeem, timeout=HTTP_TIMEOUT)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text
    flow.others.append(served_by(again))  # a code is redeemed once, whichever replica is asked
    return flow


def jwks_of(url: str) -> dict[str, Any]:
    answer = requests.get(url, timeout=HTTP_TIMEOUT)
    assert answer.status_code == 200, answer.text
    keys: dict[str, Any] = answer.json()
    return keys


def assert_spread(flows: list[Flow], run: Deployment) -> None:
    """Every step went to a replica of the deployment, both replicas served every kind of
    step, and flows crossed over: a page from one replica posted to the other, a code issued
    by one redeemed at the other."""
    replicas = set(run.replicas)
    for step in ("page", "login", "token"):
        seen = Counter(getattr(flow, step) for flow in flows)
        assert set(seen) == replicas, (step, seen)
    assert {r for flow in flows for r in flow.others} <= replicas
    assert any(flow.page != flow.login for flow in flows), "no login page was posted elsewhere"
    assert any(flow.login != flow.token for flow in flows), "no code was redeemed elsewhere"


def test_both_replicas_publish_one_issuer_and_one_jwks(replicas: Deployment) -> None:
    documents = [requests.get(f"http://{address}/default/.well-known/openid-configuration",
                              timeout=HTTP_TIMEOUT).json() for address in replicas.replicas]
    assert documents[0] == documents[1]
    assert documents[0]["issuer"] == replicas.issuer
    assert documents[0]["token_endpoint"] == f"{replicas.issuer}/token"  # through the balancer
    keys = [jwks_of(f"http://{address}/default/jwks") for address in replicas.replicas]
    assert keys[0] == keys[1] and keys[0]["keys"]
    assert jwks_of(f"{replicas.issuer}/jwks") == keys[0]


def test_the_code_flow_works_across_the_replicas(replicas: Deployment) -> None:
    jwks = jwks_of(f"{replicas.issuer}/jwks")
    flows = [requests_flow(replicas, jwks, ("alice", "bob")[n % 2], replay=n % 2 == 0)
             for n in range(FLOWS)]
    assert len(flows) == FLOWS
    assert_spread(flows, replicas)


def test_the_code_flow_works_across_the_replicas_four_at_a_time(replicas: Deployment) -> None:
    jwks = jwks_of(f"{replicas.issuer}/jwks")
    with ThreadPoolExecutor(4) as pool:
        flows = list(pool.map(lambda n: requests_flow(replicas, jwks, ("alice", "bob")[n % 2]),
                              range(PARALLEL_FLOWS)))
    assert len(flows) == PARALLEL_FLOWS
    assert_spread(flows, replicas)


def test_one_journal_and_each_answer_from_the_replica_nginx_names(replicas: Deployment) -> None:
    """Whichever replica is asked, the journal lists every exchange of every replica; and
    the ``pid`` of /_mockidp/health is that of the process nginx names in X-Served-By."""
    for _ in range(4):
        health = requests.get(f"{replicas.base}/_mockidp/health", timeout=HTTP_TIMEOUT)
        assert health.status_code == 200, health.text
        assert health.json()["pid"] == replicas.replicas[served_by(health)].process.pid
    cleared = requests.delete(f"{replicas.base}/_mockidp/journal", timeout=HTTP_TIMEOUT)
    assert cleared.status_code == 204, cleared.text
    jwks = jwks_of(f"{replicas.issuer}/jwks")
    flows = [requests_flow(replicas, jwks, "alice") for _ in range(5)]
    assert {flow.token for flow in flows} | {flow.login for flow in flows} == set(
        replicas.replicas)
    for address in replicas.replicas:
        calls = requests.get(f"http://{address}/_mockidp/journal", timeout=HTTP_TIMEOUT,
                             params={"endpoint": "token"}).json()["calls"]
        assert [c["status"] for c in calls] == [200, 400] * 5, (address, calls)
        logins = requests.get(f"http://{address}/_mockidp/journal", timeout=HTTP_TIMEOUT,
                              params={"endpoint": "login"}).json()["calls"]
        assert len(logins) == 5, (address, logins)


def authlib_flow(run: Deployment, metadata: dict[str, Any], username: str) -> Flow:
    """What an application on Authlib does: build the authorization URL (PKCE S256, nonce),
    fetch the token from the redirect, refresh it, call userinfo."""
    from authlib.common.security import generate_token
    from authlib.integrations.requests_client import OAuth2Session

    flow = Flow()
    with OAuth2Session(CLIENT[0], CLIENT[1], scope=SCOPE, redirect_uri=REDIRECT,
                       code_challenge_method="S256") as client:
        answered: list[str] = []
        client.hooks["response"].append(lambda r, *a, **k: answered.append(served_by(r)))
        verifier, nonce = generate_token(48), generate_token(20)
        url, state = client.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
        with requests.Session() as browser:
            location = log_in(browser, url, username, flow)
        token = client.fetch_token(metadata["token_endpoint"], authorization_response=location,
                                   state=state, code_verifier=verifier)
        flow.token = answered[-1]
        first_refresh = token["refresh_token"]
        assert jwt.decode(token["id_token"], options={"verify_signature": False})["nonce"] == nonce
        refreshed = client.refresh_token(metadata["token_endpoint"])
        assert refreshed["refresh_token"] != first_refresh  # rotated, at either replica
        userinfo = client.get(metadata["userinfo_endpoint"], timeout=HTTP_TIMEOUT)
        assert userinfo.status_code == 200, userinfo.text
        assert userinfo.json()["sub"] == username
        flow.others.extend(answered[-2:])
    return flow


def test_an_authlib_application_signs_in_across_the_replicas(replicas: Deployment) -> None:
    metadata = requests.get(f"{replicas.issuer}/.well-known/openid-configuration",
                            timeout=HTTP_TIMEOUT).json()
    assert metadata["authorization_endpoint"].startswith(replicas.base)
    flows = [authlib_flow(replicas, metadata, ("bob", "alice")[n % 2])
             for n in range(AUTHLIB_FLOWS)]
    assert_spread(flows, replicas)
    # refresh and userinfo reached both replicas too
    assert {r for flow in flows for r in flow.others} == set(replicas.replicas)


def test_client_credentials_through_the_balancer(replicas: Deployment) -> None:
    """What a load test sends: tokens from both replicas, all verified with one JWKS."""
    jwks = jwks_of(f"{replicas.issuer}/jwks")
    answered: Counter[str] = Counter()
    with requests.Session() as http:
        for _ in range(20):
            answer = http.post(f"{replicas.issuer}/token", timeout=HTTP_TIMEOUT,
                               auth=("load-test", "load-test-secret"),
                               data={"grant_type": "client_credentials"})
            assert answer.status_code == 200, answer.text
            answered[served_by(answer)] += 1
            claims = verified(answer.json()["access_token"], jwks, replicas.issuer, "orders-api")
            assert claims["client_id"] == "load-test"
    assert set(answered) == set(replicas.replicas), answered


# -- without the shared store --------------------------------------------------------------------

def test_without_the_store_round_robin_breaks_the_flow(tmp_path: Path) -> None:
    """Two replicas each with its own memory, behind the same nginx: the login page one
    replica shows is unknown to the other, so every flow fails at its POST."""
    with deployment(tmp_path, shared=False) as run:
        failures = []
        for _ in range(4):
            flow = Flow()
            _, challenge = pkce_pair()
            query = {"response_type": "code", "client_id": CLIENT[0], "redirect_uri": REDIRECT,
                     "scope": SCOPE, "state": "s", "nonce": "n", "code_challenge": challenge,
                     "code_challenge_method": "S256"}
            with requests.Session() as browser:
                page = browser.get(f"{run.issuer}/authorize", params=query,
                                   allow_redirects=False, timeout=HTTP_TIMEOUT)
                assert page.status_code == 200, page.text
                flow.page = served_by(page)
                action = elements(page.text, "form")[0].attrs["action"]
                answer = browser.post(urljoin(page.url, action), allow_redirects=False,
                                      data={**form_fields(page.text), "pick": "alice"},
                                      timeout=HTTP_TIMEOUT)
                flow.login = served_by(answer)
            assert flow.page != flow.login  # round-robin: the POST went to the other replica
            failures.append(answer.status_code)
        assert all(status >= 400 for status in failures), failures
