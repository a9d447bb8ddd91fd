"""``mockidp mint``: through a running server (``--url``, over its control API), or locally with
shared keys (``--keys-dir``) or throwaway ones (said on stderr); and a ``--help`` that says what
each option does.  The servers run in this process (`MockIdP` as a context manager); the
command runs through click's ``CliRunner``, and once as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
import requests
from click.testing import CliRunner, Result

from mockidp import MockIdP
from mockidp.cli import main
from mockidp.core.settings import SIGNING_ALGS

from .conftest import ROOT
from .local_server import free_port, serving

TIMEOUT = 10.0
CONTROL_TOKEN = "s3cret-control-token"
CONFIG = {"clients": {"api": {"secret": "api-secret"}},
          "users": {"alice": {"claims": {"email": "alice@example.com", "name": "Alice"}}}}


# each test starts from no ``MOCKIDP_*`` variables (the ``no_mockidp_env`` fixture)
pytestmark = pytest.mark.usefixtures("no_mockidp_env")


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(main, ["mint", *args])


def minted(*args: str, env: dict[str, str] | None = None) -> Result:
    result = invoke(*args, env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert result.stdout.strip().count(".") == 2, result.stdout
    assert result.stdout == result.stdout.strip() + "\n"  # the token alone, for $(mockidp mint)
    return result


def refused(*args: str, env: dict[str, str] | None = None) -> str:
    """stderr of a mint that fails cleanly: a message, no traceback, nothing on stdout."""
    result = invoke(*args, env=env)
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())


def discovery(base: str) -> dict[str, Any]:
    response = requests.get(f"{base}/default/.well-known/openid-configuration", timeout=TIMEOUT)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document


def verified(token: str, base: str, **options: Any) -> dict[str, Any]:
    """The token's claims as a resource server sees them: key from the JWKS, issuer from
    discovery, both fetched from ``base``."""
    found = discovery(base)
    key = jwt.PyJWKClient(found["jwks_uri"]).get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(token, key.key, algorithms=list(SIGNING_ALGS),
                                        issuer=found["issuer"], **options)
    return claims


@contextmanager
def not_mockidp(status: int, body: bytes, kind: str) -> Iterator[str]:
    """A server that answers every POST with ``status`` and ``body``: not a mockidp."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serving(HTTPServer(("127.0.0.1", 0), Handler), "not-mockidp") as url:
        yield url


# -- --help ----------------------------------------------------------------------------------

def test_help_lists_every_algorithm_and_binds_nothing() -> None:
    result = invoke("--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    for alg in SIGNING_ALGS:
        assert alg in text, alg
    assert "bind" not in text.lower()
    assert "'iss'" in text  # --host and --port say they make the issuer URL


def test_alg_outside_the_table_is_refused_naming_the_choices() -> None:
    result = invoke("--alg", "HS256")
    assert result.exit_code == 2
    assert "HS256" in result.stderr
    assert "EdDSA" in result.stderr


def test_help_offers_minting_through_a_server() -> None:
    text = " ".join(invoke("--help").stdout.split())
    assert "--url URL" in text and "[env: MOCKIDP_URL]" in text
    assert "--control-token" in text and "[env: MOCKIDP_CONTROL_TOKEN]" in text


# -- --url: through a running server -----------------------------------------------------------

def test_a_token_minted_through_the_server_is_one_it_accepts() -> None:
    with MockIdP(CONFIG) as idp:
        result = minted("--url", idp.url, "--sub", "alice", "--audience", "orders",
                        "--scope", "openid email", "--claim", "role=admin", "--expires-in",
                        "600", "--alg", "ES256")
        token = result.stdout.strip()
        assert result.stderr == ""  # no warning: the server's own keys
        claims = verified(token, idp.url, audience="orders")
        assert claims["sub"] == "alice"
        assert claims["role"] == "admin"
        assert claims["email"] == "alice@example.com"  # the server's user, by scope
        assert "name" not in claims
        assert claims["exp"] - claims["iat"] == 600
        assert jwt.get_unverified_header(token)["alg"] == "ES256"

        introspected = requests.post(f"{idp.issuer_url()}/introspect", data={"token": token},
                                     auth=("api", "api-secret"), timeout=TIMEOUT)
        assert introspected.status_code == 200
        assert introspected.json()["active"] is True
        assert introspected.json()["sub"] == "alice"
        userinfo = requests.get(f"{idp.issuer_url()}/userinfo", timeout=TIMEOUT,
                                headers={"Authorization": f"Bearer {token}"})
        assert userinfo.status_code == 200, userinfo.text
        assert userinfo.json()["sub"] == "alice"
        # the journal holds what the resource server asked, all answered fine
        calls = idp.calls()
        assert [(c.endpoint, c.status, c.error) for c in calls] == [
            ("discovery", 200, None), ("jwks", 200, None), ("introspect", 200, None),
            ("userinfo", 200, None)]


def test_every_algorithm_through_the_server_verifies_against_its_jwks() -> None:
    with MockIdP() as idp:
        for alg in SIGNING_ALGS:
            token = minted("--url", idp.url, "--alg", alg).stdout.strip()
            assert jwt.get_unverified_header(token)["alg"] == alg
            assert verified(token, idp.url, audience="mockidp")["sub"] == "user"


def test_the_token_names_the_issuer_url_the_server_is_reached_at() -> None:
    # as its discovery document and token endpoint do for a request at that URL: a server
    # bound to 127.0.0.1 and reached as localhost names http://localhost:PORT/default
    with MockIdP() as idp:
        for base in (idp.url, idp.url.replace("127.0.0.1", "localhost")):
            token = minted("--url", base).stdout.strip()
            assert jwt.decode(token, options={"verify_signature": False})["iss"] == \
                f"{base}/default"
            assert verified(token, base, audience="mockidp")["sub"] == "user"
            bad = minted("--url", base, "--bad", "wrong_audience").stdout.strip()
            assert verified(bad, base, options={"verify_aud": False})["iss"] == f"{base}/default"
    with MockIdP(public_url="https://idp.example") as idp:  # a public URL names it always
        token = minted("--url", idp.url.replace("127.0.0.1", "localhost")).stdout.strip()
        assert jwt.decode(token, options={"verify_signature": False})["iss"] == \
            "https://idp.example/default"


def test_url_from_the_environment_and_with_the_control_prefix() -> None:
    with MockIdP() as idp:
        token = minted("--sub", "env", env={"MOCKIDP_URL": idp.url + "/"}).stdout.strip()
        assert verified(token, idp.url, audience="mockidp")["sub"] == "env"
        token = minted("--url", idp.url + "/_mockidp").stdout.strip()
        assert verified(token, idp.url, audience="mockidp")["sub"] == "user"


def test_bad_tokens_through_the_server_are_bad_for_their_one_reason() -> None:
    with MockIdP() as idp:
        revoked = minted("--url", idp.url, "--bad", "revoked").stdout.strip()
        assert verified(revoked, idp.url, audience="mockidp")["sub"] == "user"  # signed fine
        answer = requests.post(f"{idp.issuer_url()}/introspect", data={"token": revoked},
                               auth=("api", "x"), timeout=TIMEOUT).json()
        assert answer == {"active": False}  # but the server revoked it

        expired = minted("--url", idp.url, "--bad", "expired").stdout.strip()
        with pytest.raises(jwt.ExpiredSignatureError):
            verified(expired, idp.url, audience="mockidp")
        assert verified(expired, idp.url, audience="mockidp",
                        options={"verify_exp": False})["sub"] == "user"

        said = refused("--url", idp.url, "--bad", "nonsense")
        assert f"{idp.url}/_mockidp/mint-bad answered 400" in said
        assert "kind" in said and "revoked" in said


def test_a_control_token_protected_server_mints_for_its_token_only() -> None:
    with MockIdP(control_token=CONTROL_TOKEN) as idp:
        said = refused("--url", idp.url)
        assert f"{idp.url}/_mockidp/mint answered 401" in said
        assert "--control-token" in said and "MOCKIDP_CONTROL_TOKEN" in said
        said = refused("--url", idp.url, "--control-token", "wrong")
        assert "401" in said and "not the server's" in said

        token = minted("--url", idp.url, "--control-token", CONTROL_TOKEN).stdout.strip()
        assert verified(token, idp.url, audience="mockidp")["sub"] == "user"
        env = {"MOCKIDP_URL": idp.url, "MOCKIDP_CONTROL_TOKEN": CONTROL_TOKEN}
        token = minted("--sub", "bob", env=env).stdout.strip()
        assert verified(token, idp.url, audience="mockidp")["sub"] == "bob"


def test_a_closed_port_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    said = refused("--url", url)
    assert f"cannot reach mockidp at {url}" in said
    assert "mockidp serve" in said


def test_a_closed_port_is_a_clear_error_from_the_real_command() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKIDP_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-m", "mockidp.cli", "mint", "--url", url],
                          capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(f"Error: cannot reach mockidp at {url}")
    assert "Traceback" not in done.stderr


def test_a_server_without_the_control_api_or_a_wrong_path_is_named() -> None:
    with MockIdP(control=False) as idp:
        said = refused("--url", idp.url)
        assert f"{idp.url}/_mockidp/mint answered 404" in said
        assert "--no-control" in said
    with MockIdP() as idp:
        said = refused("--url", idp.issuer_url())  # the issuer URL, not the server's root
        assert f"{idp.issuer_url()}/_mockidp/mint answered 404" in said
        assert "server's root" in said


@pytest.mark.parametrize(("status", "body", "kind"), [
    (200, b"<html>hello</html>", "text/html"),
    (200, b'{"token": 5}', "application/json"),
    (200, b"[1, 2]", "application/json"),
    (500, b"<html>Internal Server Error</html>", "text/html"),
    (302, b"", "text/html"),
])
def test_an_answer_that_is_not_the_control_apis_is_named(status: int, body: bytes,
                                                         kind: str) -> None:
    with not_mockidp(status, body, kind) as url:
        said = refused("--url", url)
    assert f"{url}/_mockidp/mint answered {status}" in said
    assert "mockidp server" in said


def test_a_url_that_is_not_http_is_refused() -> None:
    said = refused("--url", "ftp://127.0.0.1:8080")
    assert "ftp://127.0.0.1:8080" in said and "http://127.0.0.1:8080" in said


def test_local_options_do_not_go_with_url(tmp_path: Any) -> None:
    for option in (["--keys-dir", str(tmp_path)], ["--port", "9000"], ["--host", "x"],
                   ["--public-url", "http://x"], ["--config", str(tmp_path / "c.toml")]):
        result = invoke("--url", "http://127.0.0.1:1", *option)
        assert result.exit_code == 2, result.output
        assert f"{option[0]}: not with --url" in result.stderr
    result = invoke("--control-token", "abc")
    assert result.exit_code == 2
    assert "--control-token goes with --url" in result.stderr


# -- without --url: local keys, throwaway unless --keys-dir --------------------------------------

def test_throwaway_keys_are_said_on_stderr_and_only_then(tmp_path: Any) -> None:
    result = minted("--sub", "alice", "--port", "9000")
    warning = " ".join(result.stderr.split())
    assert warning.startswith("Warning: signed with throwaway keys")
    assert "no running server knows them" in warning
    assert "--url http://127.0.0.1:9000" in warning and "MOCKIDP_URL" in warning
    assert "--keys-dir" in warning
    with MockIdP() as idp:  # what the warning says: a running server rejects the token
        answer = requests.post(f"{idp.issuer_url()}/introspect", timeout=TIMEOUT,
                               data={"token": result.stdout.strip()}, auth=("api", "x"))
        assert answer.json() == {"active": False}
    bad = minted("--bad", "expired")
    assert "throwaway keys" in bad.stderr
    # shared keys, or a server's: nothing to warn about
    assert minted("--keys-dir", str(tmp_path / "a")).stderr == ""
    assert minted(env={"MOCKIDP_KEYS_DIR": str(tmp_path / "b")}).stderr == ""
    with MockIdP() as idp:
        assert minted("--url", idp.url).stderr == ""


def test_the_real_command_prints_the_token_alone_on_stdout() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKIDP_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-m", "mockidp.cli", "mint", "--sub", "alice"],
                          capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    token = done.stdout.removesuffix("\n")
    assert "\n" not in token and jwt.decode(token, options={"verify_signature": False})[
        "sub"] == "alice"
    assert done.stderr.startswith("Warning: signed with throwaway keys")
