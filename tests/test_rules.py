"""Rules (`mockidp.scripting.rules`): every effect on every endpoint kind, as a client sees it over
HTTP, and the rule model: times, matching, composition order, unfired rules, the journal, bad specs.

Every rule here names the endpoint it is meant for (an early rule without one would also fire
at the authorization endpoint that `code_for` goes through).  Delays are proved with a lower
bound on the elapsed time only: a scripted sleep can never be shorter, but it may be longer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
import requests

from mockidp import MockIdP, MockIdPError

from .conftest import REDIRECT, authorize, code_for, fragment_of, query_of, token_url

WEB = ("web-app", "web-secret")
BASE = {"client_id": "web-app", "redirect_uri": REDIRECT, "response_type": "code"}
DELAY = 0.2
FROZEN = 1_900_000_000  # a fixed provider time, for exact time stamps


# -- helpers ----------------------------------------------------------------------------------

def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def client_credentials(idp: MockIdP, auth: tuple[str, str] = ("m2m", "m2m-secret"),
                       issuer: str = "default", **data: str) -> requests.Response:
    return requests.post(token_url(idp, issuer), auth=auth,
                         data={"grant_type": "client_credentials", **data})


def password_grant(idp: MockIdP, username: str = "bob", password: str = "bob-password",
                   **data: str) -> requests.Response:
    return requests.post(token_url(idp), auth=WEB,
                         data={"grant_type": "password", "username": username,
                               "password": password, **data})


def exchange(idp: MockIdP, code: str) -> requests.Response:
    return requests.post(token_url(idp), auth=WEB,
                         data={"grant_type": "authorization_code", "code": code,
                               "redirect_uri": REDIRECT})


def code_flow(idp: MockIdP, user: str = "alice", scope: str = "openid profile email",
              **params: str) -> dict[str, Any]:
    """Tokens of a code flow approved at once through login_hint."""
    response = exchange(idp, code_for(idp, user=user, scope=scope, **params))
    assert response.status_code == 200, response.text
    return response.json()


def userinfo(idp: MockIdP, token: str) -> requests.Response:
    return requests.get(f"{idp.issuer_url()}/userinfo",
                        headers={"Authorization": f"Bearer {token}"})


def introspect(idp: MockIdP, token: str) -> requests.Response:
    return requests.post(f"{idp.issuer_url()}/introspect", data={"token": token}, auth=WEB)


def revoke(idp: MockIdP, token: str) -> requests.Response:
    return requests.post(f"{idp.issuer_url()}/revoke", data={"token": token}, auth=WEB)


def discovery(idp: MockIdP) -> requests.Response:
    return requests.get(f"{idp.issuer_url()}/.well-known/openid-configuration")


def jwks(idp: MockIdP) -> requests.Response:
    return requests.get(f"{idp.issuer_url()}/jwks")


def verify(idp: MockIdP, token: str, audience: str) -> dict[str, Any]:
    """What a resource server does: key from the JWKS over HTTP, then PyJWT's checks."""
    key = jwt.PyJWKClient(f"{idp.issuer_url()}/jwks").get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=audience,
                      issuer=idp.issuer_url())


def login_form(page: str) -> dict[str, str]:
    match = re.search(r'name="interaction" value="([^"]+)"', page)
    assert match, "no login form in page"
    return {"interaction": match.group(1)}


def timed(call: Callable[[], requests.Response]) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


# The JSON endpoints, each called the way a client calls it.
JSON_CALLS: dict[str, Callable[[MockIdP], requests.Response]] = {
    "token": lambda idp: client_credentials(idp),
    "userinfo": lambda idp: userinfo(idp, idp.mint("alice", client_id="web-app")),
    "introspect": lambda idp: introspect(idp, idp.mint("alice", client_id="web-app")),
    "revoke": lambda idp: revoke(idp, idp.mint("alice", client_id="web-app")),
    "discovery": discovery,
    "jwks": jwks,
}


# -- effect: OAuth error ----------------------------------------------------------------------

@pytest.mark.parametrize("endpoint, error, status", [
    ("token", "invalid_grant", 400),
    ("token", "temporarily_unavailable", 503),
    ("userinfo", "insufficient_scope", 403),
    ("introspect", "server_error", 500),
    ("revoke", "invalid_request", 400),
    ("discovery", "temporarily_unavailable", 503),
    ("jwks", "server_error", 502),
])
def test_scripted_error_is_an_rfc_json_body(mockidp: MockIdP, endpoint: str, error: str,
                                            status: int) -> None:
    rule = mockidp.add_rule(endpoint=endpoint,
                            error={"error": error, "description": "scripted", "status": status})
    response = JSON_CALLS[endpoint](mockidp)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"error": error, "error_description": "scripted"}
    assert rule.fired == 1
    # once: the next request is served normally
    assert JSON_CALLS[endpoint](mockidp).status_code == 200


def test_scripted_error_status_defaults(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="token", error="invalid_grant")
    response = client_credentials(mockidp)
    assert response.status_code == 400 and response.json() == {"error": "invalid_grant"}
    mockidp.add_rule(endpoint="token", error="invalid_client")
    assert client_credentials(mockidp).status_code == 401


def test_scripted_invalid_token_at_userinfo_has_bearer_challenge(mockidp: MockIdP) -> None:
    """RFC 6750 §3: a 401 from a protected resource carries ``WWW-Authenticate: Bearer``."""
    mockidp.add_rule(endpoint="userinfo", error={"error": "invalid_token",
                                                 "description": "scripted"})
    response = userinfo(mockidp, mockidp.mint("alice", client_id="web-app"))
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"
    assert response.headers.get("WWW-Authenticate", "").startswith(
        'Bearer error="invalid_token"'
    )


def test_scripted_invalid_client_over_basic_has_basic_challenge(mockidp: MockIdP) -> None:
    """RFC 6749 §5.2: a 401 ``invalid_client`` to a client that used HTTP Basic carries
    ``WWW-Authenticate`` (as mockidp's own invalid_client answers do)."""
    mockidp.add_rule(endpoint="token", error="invalid_client")
    response = client_credentials(mockidp)  # HTTP Basic
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert response.headers.get("WWW-Authenticate", "").startswith("Basic")


@pytest.mark.parametrize("error", [
    "access_denied", "login_required", "consent_required", "interaction_required",
    "temporarily_unavailable",
])
def test_scripted_error_at_authorize_goes_back_by_redirect(mockidp: MockIdP, error: str) -> None:
    mockidp.add_rule(endpoint="authorize",
                     error={"error": error, "description": "scripted", "status": 503})
    response = authorize(mockidp, **BASE, login_hint="alice", state="s-1")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    params = query_of(location)
    assert params == {"error": error, "error_description": "scripted", "state": "s-1",
                      "iss": mockidp.issuer_url()}
    # once: the next authorization request gets its code
    assert "code" in query_of(authorize(mockidp, **BASE, login_hint="alice").headers["Location"])


def test_scripted_error_at_authorize_respects_the_response_mode(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="authorize", error="login_required")
    response = authorize(mockidp, **BASE, login_hint="alice", state="f",
                         response_mode="fragment")
    location = response.headers["Location"]
    assert "?" not in location
    fields = fragment_of(location)
    assert fields["error"] == "login_required" and fields["state"] == "f"


def test_scripted_error_at_authorize_is_never_sent_to_an_untrusted_redirect(
        mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(endpoint="authorize", error={"error": "access_denied",
                                                         "description": "scripted"})
    response = authorize(mockidp, client_id="web-app", redirect_uri="http://evil.example/cb",
                         response_type="code", login_hint="alice", state="s")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")
    assert "access_denied" in response.text and "evil.example" not in response.text
    assert rule.fired == 1


def test_scripted_error_at_login_page_post_is_redirected(mockidp: MockIdP,
                                                         http: requests.Session) -> None:
    rule = mockidp.add_rule(endpoint="login", error={"error": "access_denied",
                                                     "description": "no entry"})
    page = authorize(mockidp, session=http, **BASE, state="st-9")
    assert page.status_code == 200 and rule.fired == 0  # the login page itself is untouched
    answer = http.post(f"{mockidp.issuer_url()}/authorize/login",
                       data={**login_form(page.text), "username": "alice", "action": "approve"},
                       allow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith(REDIRECT + "?")
    params = query_of(answer.headers["Location"])
    assert params["error"] == "access_denied" and params["error_description"] == "no entry"
    assert params["state"] == "st-9" and "code" not in params


def test_scripted_error_at_endsession_is_an_error_page(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="endsession", error={"error": "temporarily_unavailable",
                                                   "description": "logout is down",
                                                   "status": 503})
    response = requests.get(f"{mockidp.issuer_url()}/endsession",
                            params={"client_id": "web-app",
                                    "post_logout_redirect_uri": "http://localhost:3000/"},
                            allow_redirects=False)
    assert response.status_code == 503
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")
    assert "temporarily_unavailable" in response.text and "logout is down" in response.text


# -- effect: raw fault ------------------------------------------------------------------------

FAULT_ENDPOINTS = ["token", "discovery", "jwks", "userinfo", "introspect", "revoke"]


@pytest.mark.parametrize("endpoint", FAULT_ENDPOINTS)
def test_fault_custom_status_body_and_content_type(mockidp: MockIdP, endpoint: str) -> None:
    mockidp.add_rule(endpoint=endpoint, fault={"status": 502, "body": "<h1>Bad Gateway</h1>",
                                               "content_type": "text/html"})
    response = JSON_CALLS[endpoint](mockidp)
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text == "<h1>Bad Gateway</h1>"
    assert JSON_CALLS[endpoint](mockidp).status_code == 200


@pytest.mark.parametrize("endpoint", FAULT_ENDPOINTS)
def test_fault_invalid_json(mockidp: MockIdP, endpoint: str) -> None:
    mockidp.add_rule(endpoint=endpoint, fault={"kind": "invalid_json"})
    response = JSON_CALLS[endpoint](mockidp)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.content
    with pytest.raises(requests.JSONDecodeError):
        response.json()


@pytest.mark.parametrize("endpoint", FAULT_ENDPOINTS)
def test_fault_empty_body(mockidp: MockIdP, endpoint: str) -> None:
    mockidp.add_rule(endpoint=endpoint, fault={"kind": "empty"})
    response = JSON_CALLS[endpoint](mockidp)
    assert response.status_code == 200 and response.content == b""


@pytest.mark.parametrize("endpoint", FAULT_ENDPOINTS)
def test_fault_close_drops_the_connection_and_the_server_stays_up(mockidp: MockIdP,
                                                                  endpoint: str) -> None:
    rule = mockidp.add_rule(endpoint=endpoint, fault={"kind": "close"})
    with pytest.raises(requests.ConnectionError):
        JSON_CALLS[endpoint](mockidp)
    assert rule.fired == 1
    assert JSON_CALLS[endpoint](mockidp).status_code == 200
    assert discovery(mockidp).status_code == 200


BROWSER_CALLS: dict[str, Callable[[MockIdP], requests.Response]] = {
    "authorize": lambda idp: authorize(idp, **BASE, login_hint="alice"),
    "endsession": lambda idp: requests.get(f"{idp.issuer_url()}/endsession",
                                           allow_redirects=False),
}


@pytest.mark.parametrize("endpoint", list(BROWSER_CALLS))
def test_fault_at_browser_endpoints(mockidp: MockIdP, endpoint: str) -> None:
    mockidp.add_rule(endpoint=endpoint, fault={"status": 502, "body": "<p>proxy error</p>",
                                               "content_type": "text/html"})
    response = BROWSER_CALLS[endpoint](mockidp)
    assert response.status_code == 502 and response.text == "<p>proxy error</p>"
    assert "Location" not in response.headers
    mockidp.add_rule(endpoint=endpoint, fault="close")
    with pytest.raises(requests.ConnectionError):
        BROWSER_CALLS[endpoint](mockidp)
    assert BROWSER_CALLS[endpoint](mockidp).status_code in (200, 302)


def test_fault_at_the_login_page_post(mockidp: MockIdP, http: requests.Session) -> None:
    mockidp.add_rule(endpoint="login", fault={"status": 500, "body": "crash"})
    page = authorize(mockidp, session=http, **BASE)
    answer = http.post(f"{mockidp.issuer_url()}/authorize/login",
                       data={**login_form(page.text), "username": "alice", "action": "approve"},
                       allow_redirects=False)
    assert answer.status_code == 500 and answer.text == "crash"


def test_fault_shorthands(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="token", fault=504)
    response = client_credentials(mockidp)
    assert response.status_code == 504 and response.content == b""
    mockidp.add_rule(endpoint="token", fault="invalid_json")
    with pytest.raises(requests.JSONDecodeError):
        client_credentials(mockidp).json()


def test_pyjwkclient_fails_on_a_jwks_fault_then_recovers(mockidp: MockIdP) -> None:
    token = mockidp.mint("alice", audience="orders-api")
    rule = mockidp.add_rule(endpoint="jwks", fault={"status": 503, "body": "down"})
    client = jwt.PyJWKClient(f"{mockidp.issuer_url()}/jwks")
    with pytest.raises(jwt.PyJWKClientError):
        client.get_signing_key_from_jwt(token)
    assert rule.fired == 1 and not rule.active
    key = client.get_signing_key_from_jwt(token)  # the once rule is spent
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="orders-api")
    assert claims["sub"] == "alice"


@pytest.mark.parametrize("fault", ["invalid_json", "empty", "close"])
def test_pyjwkclient_fails_on_broken_jwks_then_recovers(mockidp: MockIdP, fault: str) -> None:
    token = mockidp.mint("alice")
    mockidp.add_rule(endpoint="jwks", fault=fault)
    client = jwt.PyJWKClient(f"{mockidp.issuer_url()}/jwks")
    # PyJWT wraps connection failures in PyJWKClientError; a body that is not JSON surfaces
    # as the JSON decoder's ValueError.  Either way no key is handed out.
    with pytest.raises((jwt.PyJWKClientError, ValueError)):
        client.get_signing_key_from_jwt(token)
    kid = jwt.get_unverified_header(token)["kid"]
    assert client.get_signing_key_from_jwt(token).key_id == kid


def test_discovery_client_survives_a_discovery_fault(mockidp: MockIdP) -> None:
    """A client that retries discovery once gets the document on the second attempt."""
    mockidp.add_rule(endpoint="discovery", fault={"status": 503, "body": "maintenance"})

    def fetch_metadata() -> dict[str, Any]:
        for _ in range(2):
            response = discovery(mockidp)
            if response.ok:
                return response.json()
        raise AssertionError("discovery failed twice")

    assert fetch_metadata()["issuer"] == mockidp.issuer_url()
    assert [c.status for c in mockidp.calls(endpoint="discovery")] == [503, 200]


# -- effect: delay ----------------------------------------------------------------------------

def test_fixed_delay(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(endpoint="token", delay=DELAY)
    response, elapsed = timed(lambda: client_credentials(mockidp))
    assert response.status_code == 200 and rule.fired == 1
    assert elapsed >= DELAY


def test_delay_with_jitter(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(endpoint="token", delay={"seconds": DELAY, "jitter": 0.1})
    assert rule.as_json()["delay"] == {"seconds": DELAY, "jitter": 0.1}
    response, elapsed = timed(lambda: client_credentials(mockidp))
    assert response.status_code == 200
    assert elapsed >= DELAY


@pytest.mark.parametrize("endpoint", ["discovery", "jwks"])
def test_delay_before_a_fault(mockidp: MockIdP, endpoint: str) -> None:
    mockidp.add_rule(endpoint=endpoint, delay=DELAY, fault={"status": 502, "body": "late"})
    response, elapsed = timed(lambda: JSON_CALLS[endpoint](mockidp))
    assert response.status_code == 502 and response.text == "late"
    assert elapsed >= DELAY


def test_delay_before_an_error(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="token", delay=DELAY, error="temporarily_unavailable")
    response, elapsed = timed(lambda: client_credentials(mockidp))
    assert response.json()["error"] == "temporarily_unavailable"
    assert elapsed >= DELAY


def test_delay_with_claims_is_slept_while_tokens_are_made(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="token", delay=DELAY,
                     claims={"access_token": {"set": {"slow": True}}})
    response, elapsed = timed(lambda: client_credentials(mockidp))
    assert claims_of(response.json()["access_token"])["slow"] is True
    assert elapsed >= DELAY


def test_delay_at_userinfo(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="userinfo", delay=DELAY)
    response, elapsed = timed(lambda: JSON_CALLS["userinfo"](mockidp))
    assert response.status_code == 200 and response.json()["sub"] == "alice"
    assert elapsed >= DELAY


# -- effect: claims ---------------------------------------------------------------------------

def test_claims_only_in_the_id_token(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(endpoint="token", claims={"id_token": {"set": {"acr": "gold"}}})
    tokens = code_flow(mockidp)
    assert claims_of(tokens["id_token"])["acr"] == "gold"
    access = tokens["access_token"]
    assert "acr" not in claims_of(access)
    assert "acr" not in userinfo(mockidp, access).json()
    assert rule.fired == 1


def test_claims_only_in_the_access_token(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="token", claims={"access_token": {"set": {"tier": "gold"},
                                                                "delete": ["email"]}})
    tokens = code_flow(mockidp)
    access, id_token = claims_of(tokens["access_token"]), claims_of(tokens["id_token"])
    assert access["tier"] == "gold" and "email" not in access
    assert "tier" not in id_token and id_token["email"] == "alice@example.com"


def test_claims_only_in_userinfo(mockidp: MockIdP) -> None:
    tokens = code_flow(mockidp)
    rule = mockidp.add_rule(endpoint="userinfo", claims={"userinfo": {
        "set": {"nickname": "Al", "seen_by": "{client_id} for {sub}"}, "delete": ["email"]}})
    info = userinfo(mockidp, tokens["access_token"]).json()
    assert info["nickname"] == "Al" and "email" not in info
    assert info["seen_by"] == "web-app for alice"
    assert info["sub"] == "alice" and info["name"] == "Alice Admin"
    access = claims_of(tokens["access_token"])
    assert "nickname" not in access and access["email"] == "alice@example.com"
    assert rule.fired == 1


def test_claim_templates(mockidp: MockIdP) -> None:
    mockidp.set_clock(freeze=FROZEN)
    mockidp.add_rule(endpoint="token", claims={"access_token": {"set": {
        "who": "{sub}", "app": "{client_id}", "granted": "{scope}", "from": "{issuer}",
        "minted_at": "{now}", "label": "{sub}@{client_id} at {now}", "asked": "{audience}",
        "unknown": "{no_such_thing}", "nested": {"list": ["{sub}", 1]},
    }}})
    response = client_credentials(mockidp, audience="orders-api", scope="read write")
    claims = claims_of(response.json()["access_token"])
    assert claims["who"] == "m2m" and claims["app"] == "m2m"
    assert claims["granted"] == "read write"
    assert claims["from"] == mockidp.issuer_url()
    assert claims["minted_at"] == FROZEN == claims["iat"]  # a whole "{now}" is an int
    assert claims["label"] == f"m2m@m2m at {FROZEN}"
    assert claims["asked"] == "orders-api"  # a request parameter
    assert claims["unknown"] == "{no_such_thing}"
    assert claims["nested"] == {"list": ["m2m", 1]}


def test_claim_template_from_the_authorization_request_user(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="token", claims={"id_token": {"set": {"greeting": "hi {sub}"}}})
    tokens = code_flow(mockidp, user="bob")
    assert claims_of(tokens["id_token"])["greeting"] == "hi bob"


def test_shorthand_claims_apply_to_all_three(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(endpoint="token",
                            claims={"set": {"tier": "gold"}, "delete": ["email"]})
    tokens = code_flow(mockidp)
    for kind in ("access_token", "id_token"):
        claims = claims_of(tokens[kind])
        assert claims["tier"] == "gold" and "email" not in claims, kind
    assert rule.fired == 1
    # userinfo: a token that has email and no tier, and the same shorthand at userinfo
    info_rule = mockidp.add_rule(endpoint="userinfo",
                                 claims={"set": {"tier": "gold"}, "delete": ["email"]})
    plain = mockidp.mint("alice", client_id="web-app", scope="openid email")
    assert claims_of(plain)["email"] == "alice@example.com"
    info = userinfo(mockidp, plain).json()
    assert info["tier"] == "gold" and "email" not in info and info["sub"] == "alice"
    assert info_rule.fired == 1


def test_shorthand_claims_times_always_reach_userinfo_too(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(client_id="web-app", claims={"set": {"tier": "gold"}},
                            times="always")
    tokens = code_flow(mockidp)
    assert claims_of(tokens["access_token"])["tier"] == "gold"
    assert claims_of(tokens["id_token"])["tier"] == "gold"
    assert userinfo(mockidp, tokens["access_token"]).json()["tier"] == "gold"
    assert rule.id in mockidp.calls(endpoint="userinfo")[-1].rules
    assert rule.fired == 2  # token endpoint, then userinfo


def test_claims_callable(mockidp: MockIdP) -> None:
    seen: list[dict[str, Any]] = []

    def claims(ctx: Mapping[str, Any]) -> dict[str, Any]:
        seen.append(dict(ctx))
        return {"greeting": f"hello {ctx['sub']}", "app": ctx["client_id"],
                "scopes": ctx["scope"].split()}

    mockidp.add_rule(endpoint="token", claims=claims)
    tokens = code_flow(mockidp, scope="openid email")
    for kind in ("access_token", "id_token"):
        got = claims_of(tokens[kind])
        assert got["greeting"] == "hello alice" and got["app"] == "web-app", kind
        assert got["scopes"] == ["openid", "email"], kind
    assert seen and seen[0]["sub"] == "alice" and seen[0]["grant_type"] == "authorization_code"


def test_claims_callable_per_token(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="token",
                     claims={"access_token": lambda ctx: {"roles": [ctx["user"], "auditor"]}})
    tokens = code_flow(mockidp)
    assert claims_of(tokens["access_token"])["roles"] == ["alice", "auditor"]
    assert claims_of(tokens["id_token"])["roles"] == ["admin", "user"]  # alice's own


def test_rule_claims_may_override_protected_claims(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="token", claims={"access_token": {"set": {
        "iss": "https://evil.example", "sub": "mallory", "aud": "somebody-else"}}})
    access = code_flow(mockidp)["access_token"]
    claims = claims_of(access)
    assert claims["iss"] == "https://evil.example" and claims["sub"] == "mallory"
    with pytest.raises(jwt.InvalidIssuerError):
        jwt.decode(access, jwt.PyJWKClient(f"{mockidp.issuer_url()}/jwks")
                   .get_signing_key_from_jwt(access).key, algorithms=["RS256"],
                   audience="somebody-else", issuer=mockidp.issuer_url())


def test_rule_claims_may_delete_exp(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="token", claims={"access_token": {"delete": ["exp"]}})
    response = code_flow(mockidp)
    access = response["access_token"]
    assert "exp" not in claims_of(access) and "iat" in claims_of(access)
    assert response["expires_in"] == 300  # the configured lifetime, still announced
    key = jwt.PyJWKClient(f"{mockidp.issuer_url()}/jwks").get_signing_key_from_jwt(access)
    with pytest.raises(jwt.MissingRequiredClaimError):
        jwt.decode(access, key.key, algorithms=["RS256"], audience="web-app",
                   options={"require": ["exp"]})
    assert "exp" in claims_of(response["id_token"])


def test_rule_claims_may_set_time_stamps(mockidp: MockIdP) -> None:
    mockidp.set_clock(freeze=FROZEN)
    mockidp.add_rule(endpoint="token", claims={"access_token": {"set": {"exp": FROZEN + 5}}})
    response = client_credentials(mockidp).json()
    claims = claims_of(response["access_token"])
    assert claims["exp"] == FROZEN + 5 and claims["iat"] == FROZEN
    assert response["expires_in"] == 5


# -- effect: bad token ------------------------------------------------------------------------

def test_bad_token_expired_access_token(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(endpoint="token", bad_token="expired")
    tokens = code_flow(mockidp)
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(mockidp, tokens["access_token"], "web-app")
    assert verify(mockidp, tokens["id_token"], "web-app")["sub"] == "alice"
    assert introspect(mockidp, tokens["access_token"]).json() == {"active": False}
    assert rule.fired == 1
    # once: the next token is good
    assert verify(mockidp, code_flow(mockidp)["access_token"], "web-app")["sub"] == "alice"


def test_bad_token_wrong_audience_id_token_only(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="token", bad_token={"kind": "wrong_audience", "token": "id_token"})
    tokens = code_flow(mockidp)
    with pytest.raises(jwt.InvalidAudienceError):
        verify(mockidp, tokens["id_token"], "web-app")
    assert verify(mockidp, tokens["access_token"], "web-app")["aud"] == "web-app"


def test_bad_token_revoked_introspects_inactive(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="token", bad_token="revoked")
    access = client_credentials(mockidp).json()["access_token"]
    verify(mockidp, access, "m2m")  # well formed and signed ...
    assert introspect(mockidp, access).json() == {"active": False}  # ... but revoked
    assert userinfo(mockidp, access).status_code == 401


@pytest.mark.parametrize("kind, error", [
    ("bad_signature", jwt.InvalidSignatureError),
    ("not_yet_valid", jwt.ImmatureSignatureError),
    ("wrong_issuer", jwt.InvalidIssuerError),
])
def test_bad_token_kinds_are_rejected_by_pyjwt(mockidp: MockIdP, kind: str,
                                               error: type[Exception]) -> None:
    mockidp.add_rule(endpoint="token", bad_token=kind)
    access = client_credentials(mockidp).json()["access_token"]
    with pytest.raises(error):
        verify(mockidp, access, "m2m")


# -- effect: skew -----------------------------------------------------------------------------

def test_skew_rule_shifts_the_time_stamps(mockidp: MockIdP) -> None:
    mockidp.set_clock(freeze=FROZEN)
    mockidp.add_rule(endpoint="token", skew=-120)
    tokens = code_flow(mockidp)
    for kind in ("access_token", "id_token"):
        claims = claims_of(tokens[kind])
        assert claims["iat"] == FROZEN - 120, kind
    access = claims_of(tokens["access_token"])
    assert access["nbf"] == FROZEN - 120 and access["exp"] == FROZEN - 120 + 300
    assert tokens["expires_in"] == 300
    assert claims_of(code_flow(mockidp)["access_token"])["iat"] == FROZEN  # once


def test_skew_with_claims_in_one_rule(mockidp: MockIdP) -> None:
    mockidp.set_clock(freeze=FROZEN)
    mockidp.add_rule(endpoint="token", skew=60, claims={"access_token": {"set": {
        "minted": "{now}"}}})
    claims = claims_of(client_credentials(mockidp).json()["access_token"])
    assert claims["iat"] == FROZEN + 60
    assert claims["minted"] == FROZEN  # {now} is the provider time, before the skew


def test_skew_makes_a_token_not_yet_valid_for_a_real_clock(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="token", skew=600)
    access = client_credentials(mockidp).json()["access_token"]
    with pytest.raises(jwt.ImmatureSignatureError):
        verify(mockidp, access, "m2m")


# -- times ------------------------------------------------------------------------------------

def test_times_once(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(endpoint="token", error="invalid_grant")
    assert client_credentials(mockidp).status_code == 400
    assert client_credentials(mockidp).status_code == 200
    assert rule.fired == 1 and not rule.active


def test_times_count(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(endpoint="token", error="invalid_grant", times=2)
    assert [client_credentials(mockidp).status_code for _ in range(3)] == [400, 400, 200]
    assert rule.fired == 2


def test_times_always(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(endpoint="token", error="invalid_grant", times="always")
    assert [client_credentials(mockidp).status_code for _ in range(5)] == [400] * 5
    assert rule.fired == 5 and rule.active
    assert rule.as_json()["times"] == "always"


def test_times_count_holds_under_concurrent_requests(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(endpoint="token", error="temporarily_unavailable", times=3)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: client_credentials(mockidp).status_code, range(12)))
    assert sorted(statuses) == [200] * 9 + [400] * 3
    assert rule.fired == 3


# -- matching ---------------------------------------------------------------------------------

def test_match_issuer(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(issuer="partner", endpoint="token", error="invalid_grant")
    assert client_credentials(mockidp).status_code == 200
    assert rule.fired == 0
    response = client_credentials(mockidp, issuer="partner")
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_match_endpoint(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(endpoint="userinfo", error="invalid_token", times="always")
    access = client_credentials(mockidp).json()["access_token"]  # token endpoint: untouched
    assert introspect(mockidp, access).json()["active"] is True
    assert userinfo(mockidp, access).status_code == 401
    assert rule.fired == 1


@pytest.mark.parametrize("matcher", ["m2m", {"regex": "m2[a-z]"}, re.compile("m2[a-z]")])
def test_match_client_id(mockidp: MockIdP, matcher: Any) -> None:
    mockidp.add_rule(endpoint="token", client_id=matcher, error="invalid_client",
                     times="always")
    assert client_credentials(mockidp, auth=("other", "x")).status_code == 200
    assert client_credentials(mockidp, auth=("m2m-not", "x")).status_code == 200  # full match
    response = client_credentials(mockidp)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_match_grant_type(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="token", grant_type="password", error="invalid_grant")
    assert client_credentials(mockidp).status_code == 200
    assert password_grant(mockidp).json() == {"error": "invalid_grant"}


def test_match_scope_contains_all_listed_scopes(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(endpoint="token", scope="write admin", error="invalid_scope",
                            times="always")
    assert client_credentials(mockidp, scope="read write").status_code == 200
    assert client_credentials(mockidp).status_code == 200
    assert client_credentials(mockidp, scope="admin read write").status_code == 400
    assert client_credentials(mockidp, scope="write admin").json()["error"] == "invalid_scope"
    assert rule.fired == 2


def test_match_scope_list_and_regex(mockidp: MockIdP) -> None:
    listed = mockidp.add_rule(endpoint="token", scope=["openid", "email"],
                              claims={"access_token": {"set": {"listed": True}}})
    regex = mockidp.add_rule(endpoint="token", scope={"regex": r"openid( \S+)* offline_access"},
                             claims={"access_token": {"set": {"regex": True}}}, times="always")
    first = claims_of(code_flow(mockidp, scope="openid profile email")["access_token"])
    assert first["listed"] is True and "regex" not in first
    second = claims_of(code_flow(mockidp, scope="openid email offline_access")["access_token"])
    assert second["regex"] is True and "listed" not in second  # listed was used up
    assert listed.fired == 1 and regex.fired == 1


def test_match_user_of_password_grant(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="token", user="bob", error="invalid_grant", times="always")
    assert password_grant(mockidp, username="dora", password="x").status_code == 200
    assert password_grant(mockidp).json()["error"] == "invalid_grant"


def test_match_user_of_login_hint(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="authorize", user="bob", error="access_denied", times="always")
    alice = query_of(authorize(mockidp, **BASE, login_hint="alice").headers["Location"])
    assert "code" in alice
    bob = query_of(authorize(mockidp, **BASE, login_hint="bob", state="b").headers["Location"])
    assert bob["error"] == "access_denied" and bob["state"] == "b"


def test_match_user_typed_on_the_login_page(mockidp: MockIdP, http: requests.Session) -> None:
    mockidp.add_rule(endpoint="login", user="mallory", error="access_denied", times="always")

    def log_in(username: str) -> dict[str, str]:
        page = authorize(mockidp, session=http, **BASE, prompt="login")
        answer = http.post(f"{mockidp.issuer_url()}/authorize/login",
                           data={**login_form(page.text), "username": username,
                                 "action": "approve"}, allow_redirects=False)
        return query_of(answer.headers["Location"])

    assert "code" in log_in("alice")
    assert log_in("mallory")["error"] == "access_denied"


def test_match_user_behind_an_authorization_code(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(endpoint="token", user="bob", error="invalid_grant", times="always")
    assert exchange(mockidp, code_for(mockidp, user="alice")).status_code == 200
    bob = exchange(mockidp, code_for(mockidp, user="bob"))
    assert bob.status_code == 400 and bob.json()["error"] == "invalid_grant"
    assert rule.fired == 1


def test_match_user_at_userinfo(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="userinfo", user="bob", error="invalid_token", times="always")
    assert userinfo(mockidp, mockidp.mint("alice", client_id="web-app")).status_code == 200
    assert userinfo(mockidp, mockidp.mint("bob", client_id="web-app")).status_code == 401


@pytest.mark.parametrize("matcher", ["orders-api", {"regex": r"orders-\w+"}])
def test_match_any_param(mockidp: MockIdP, matcher: Any) -> None:
    mockidp.add_rule(endpoint="token", params={"audience": matcher}, error="invalid_target",
                     times="always")
    assert client_credentials(mockidp).status_code == 200  # no audience at all
    assert client_credentials(mockidp, audience="billing-api").status_code == 200
    assert client_credentials(mockidp, audience="orders-api-v2").status_code == 200
    response = client_credentials(mockidp, audience="orders-api")
    assert response.json()["error"] == "invalid_target"


def test_match_params_at_authorize(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="authorize", params={"prompt": "consent"},
                     error="consent_required")
    plain = query_of(authorize(mockidp, **BASE, login_hint="alice").headers["Location"])
    assert "code" in plain
    asked = query_of(authorize(mockidp, **BASE, login_hint="alice",
                               prompt="consent").headers["Location"])
    assert asked["error"] == "consent_required"


def test_all_conditions_must_hold(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule({"match": {"endpoint": "token", "client_id": "web-app",
                                       "grant_type": "password", "user": "bob",
                                       "params": {"scope": {"regex": "^openid.*"}}}},
                            error="invalid_grant", times="always")
    assert password_grant(mockidp, scope="profile").status_code == 200
    assert password_grant(mockidp, username="dora", password="x",
                          scope="openid").status_code == 200
    assert client_credentials(mockidp, auth=WEB, scope="openid").status_code == 200
    assert password_grant(mockidp, scope="openid profile").status_code == 400
    assert rule.fired == 1


def test_non_matching_rules_do_not_fire(mockidp: MockIdP) -> None:
    rules = [
        mockidp.add_rule(endpoint="token", client_id="nobody", error="invalid_grant",
                         expect=False),
        mockidp.add_rule(endpoint="token", grant_type="password",
                         claims={"set": {"x": 1}}, expect=False),
        mockidp.add_rule(issuer="partner", endpoint="token", bad_token="expired", expect=False),
        mockidp.add_rule(endpoint="token", params={"audience": "x"}, delay=5, expect=False),
    ]
    response = client_credentials(mockidp)
    assert response.status_code == 200
    access = claims_of(response.json()["access_token"])
    assert "x" not in access and access["exp"] > access["iat"]
    assert [r.fired for r in rules] == [0, 0, 0, 0]
    assert mockidp.calls(endpoint="token")[-1].rules == ()
    assert mockidp.unfired_rules() == []  # expect=False: not reported


# -- composition ------------------------------------------------------------------------------

def test_delays_of_all_matching_early_rules_add_up(mockidp: MockIdP) -> None:
    first = mockidp.add_rule(endpoint="token", delay=DELAY / 2)
    second = mockidp.add_rule(endpoint="token", delay=DELAY / 2)
    response, elapsed = timed(lambda: client_credentials(mockidp))
    assert response.status_code == 200
    assert elapsed >= DELAY
    assert first.fired == second.fired == 1


def test_delays_before_the_error_add_up_then_the_error_answers(mockidp: MockIdP) -> None:
    delay = mockidp.add_rule(endpoint="token", delay=DELAY)
    error = mockidp.add_rule(endpoint="token", error="temporarily_unavailable", delay=DELAY)
    response, elapsed = timed(lambda: client_credentials(mockidp))
    assert response.json()["error"] == "temporarily_unavailable"
    assert elapsed >= 2 * DELAY
    assert delay.fired == error.fired == 1


def test_first_error_or_fault_wins_and_later_rules_do_not_fire(mockidp: MockIdP) -> None:
    first = mockidp.add_rule(endpoint="token", error="invalid_grant")
    later_error = mockidp.add_rule(endpoint="token", error="temporarily_unavailable",
                                   expect=False)
    later_fault = mockidp.add_rule(endpoint="token", fault=502, expect=False)
    later_delay = mockidp.add_rule(endpoint="token", delay=DELAY, expect=False)
    response = client_credentials(mockidp)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert first.fired == 1
    assert later_error.fired == later_fault.fired == later_delay.fired == 0
    assert mockidp.calls(endpoint="token")[-1].rules == (first.id,)
    # the first is spent: now the next one answers
    assert client_credentials(mockidp).json()["error"] == "temporarily_unavailable"
    assert later_error.fired == 1 and later_fault.fired == 0
    mockidp.clear_rules()


def test_fault_before_error_wins(mockidp: MockIdP) -> None:
    fault = mockidp.add_rule(endpoint="token", fault={"status": 502, "body": "gw"})
    error = mockidp.add_rule(endpoint="token", error="invalid_grant", expect=False)
    response = client_credentials(mockidp)
    assert response.status_code == 502 and response.text == "gw"
    assert fault.fired == 1 and error.fired == 0
    mockidp.remove_rule(error.id)


def test_an_error_stops_the_claims_rules(mockidp: MockIdP) -> None:
    claims = mockidp.add_rule(endpoint="token", claims={"access_token": {"set": {"t": 1}}})
    error = mockidp.add_rule(endpoint="token", error="temporarily_unavailable")
    assert client_credentials(mockidp).status_code == 400
    assert claims.fired == 0 and error.fired == 1
    assert claims_of(client_credentials(mockidp).json()["access_token"])["t"] == 1
    assert claims.fired == 1


def test_later_claims_rules_win(mockidp: MockIdP) -> None:
    silver = mockidp.add_rule(endpoint="token", claims={"set": {"tier": "silver", "a": 1}})
    gold = mockidp.add_rule(endpoint="token", claims={"access_token": {"set": {"tier": "gold"}}})
    deleted = mockidp.add_rule(endpoint="token", claims={"id_token": {"delete": ["tier"]}})
    tokens = code_flow(mockidp)
    access, id_token = claims_of(tokens["access_token"]), claims_of(tokens["id_token"])
    assert access["tier"] == "gold" and access["a"] == 1
    assert "tier" not in id_token and id_token["a"] == 1
    assert silver.fired == gold.fired == deleted.fired == 1
    assert mockidp.calls(endpoint="token")[-1].rules == (silver.id, gold.id, deleted.id)


def test_first_bad_token_wins_and_skews_add_up(mockidp: MockIdP) -> None:
    mockidp.set_clock(freeze=FROZEN)
    wrong_iss = mockidp.add_rule(endpoint="token", bad_token="wrong_issuer")
    other = mockidp.add_rule(endpoint="token", bad_token="wrong_audience")
    skew_a = mockidp.add_rule(endpoint="token", skew=-60)
    skew_b = mockidp.add_rule(endpoint="token", skew=-30)
    claims = claims_of(client_credentials(mockidp).json()["access_token"])
    assert claims["iss"] != mockidp.issuer_url()  # the first bad token ...
    assert claims["aud"] == "m2m"  # ... and only that one
    assert claims["iat"] == FROZEN - 90
    assert [r.fired for r in (wrong_iss, other, skew_a, skew_b)] == [1, 1, 1, 1]


# -- unfired rules ----------------------------------------------------------------------------

def test_check_rules_names_a_rule_that_did_not_match(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(endpoint="token", client_id="x", error="invalid_grant")
    assert client_credentials(mockidp, auth=WEB).status_code == 200
    assert mockidp.unfired_rules() == [rule]
    with pytest.raises(AssertionError) as raised:
        mockidp.check_rules()
    message = str(raised.value)
    assert "1 mockidp rule(s) never fired" in message
    assert rule.id in message
    assert "client_id: wanted 'x', got 'web-app'" in message
    assert mockidp.remove_rule(rule.id) is True
    mockidp.check_rules()  # nothing left to report
    assert mockidp.remove_rule(rule.id) is False


def test_check_rules_names_an_endpoint_never_reached(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(id="introspect-down", endpoint="introspect",
                            error="temporarily_unavailable")
    client_credentials(mockidp)
    with pytest.raises(AssertionError, match="no request reached endpoint 'introspect'"):
        mockidp.check_rules()
    with pytest.raises(AssertionError, match="introspect-down"):
        mockidp.check_rules([rule])
    mockidp.remove_rule("introspect-down")
    assert mockidp.unfired_rules() == []


def test_unfired_reason_lists_the_misses(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(endpoint="token", scope="admin", user="bob",
                            claims={"set": {"x": 1}})
    password_grant(mockidp, scope="read")
    password_grant(mockidp, username="dora", password="x", scope="admin")
    reason = rule.not_fired_reason()
    assert "scope: wanted 'admin', got 'read'" in reason
    assert "user: wanted 'bob', got 'dora'" in reason
    mockidp.remove_rule(rule.id)


def test_expect_false_rules_are_not_reported(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="revoke", error="invalid_request", expect=False)
    assert mockidp.unfired_rules() == []
    mockidp.check_rules()


def test_fired_rules_are_not_reported(mockidp: MockIdP) -> None:
    mockidp.add_rule(endpoint="jwks", delay=0.01)
    jwks(mockidp)
    mockidp.check_rules()


# -- the journal ------------------------------------------------------------------------------

def test_journal_records_the_rules_that_fired(mockidp: MockIdP) -> None:
    delay = mockidp.add_rule(id="slow", endpoint="token", delay=0.01)
    claims = mockidp.add_rule(id="tier", endpoint="token", claims={"set": {"tier": "gold"}})
    error = mockidp.add_rule(id="boom", endpoint="token", error="invalid_grant")
    assert client_credentials(mockidp).status_code == 400
    first = mockidp.calls(endpoint="token")[-1]
    assert first.rules == ("slow", "boom") and first.error == "invalid_grant"
    assert first.status == 400
    assert client_credentials(mockidp).status_code == 200
    second = mockidp.calls(endpoint="token")[-1]
    assert second.rules == ("tier",)
    assert second.tokens["access_token"]["tier"] == "gold"
    assert [r.fired for r in (delay, claims, error)] == [1, 1, 1]


def test_journal_records_faults(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(endpoint="discovery", fault={"status": 502, "body": "x"})
    discovery(mockidp)
    call = mockidp.calls(endpoint="discovery")[-1]
    assert call.rules == (rule.id,) and call.status == 502 and call.error == "scripted_fault"


def test_list_rules_shows_fired_counts(mockidp: MockIdP) -> None:
    rule = mockidp.add_rule(endpoint="token", error="invalid_grant", times=3,
                            description="flaky token endpoint")
    client_credentials(mockidp)
    (listed,) = mockidp.list_rules()
    assert listed is rule
    shape = rule.as_json()
    assert shape["fired"] == 1 and shape["active"] is True and shape["times"] == 3
    assert shape["match"] == {"endpoint": "token"}
    assert shape["description"] == "flaky token endpoint"
    assert shape["error"] == {"error": "invalid_grant", "description": "", "status": 400}
    mockidp.remove_rule(rule.id)


# -- invalid rule specs -----------------------------------------------------------------------

@pytest.mark.parametrize("spec, field", [
    ({"endpoint": "tokens", "error": "invalid_grant"}, "rule.match.endpoint"),
    ({"match": {"endpoint": "nope"}, "error": "invalid_grant"}, "rule.match.endpoint"),
    ({"match": {"colour": "red"}, "error": "invalid_grant"}, "rule.match.colour"),
    ({"client_id": 42, "error": "invalid_grant"}, "rule.match.client_id"),
    ({"params": {"x": {"regex": "("}}, "error": "invalid_grant"}, "rule.match.params.x.regex"),
    ({"params": "x=1", "error": "invalid_grant"}, "rule.match.params"),
    ({"error": "invalid_grant", "times": 0}, "rule.times"),
    ({"error": "invalid_grant", "times": "twice"}, "rule.times"),
    ({"error": {"error": "invalid_grant", "status": 200}}, "rule.error.status"),
    ({"error": {"error": "invalid_grant", "status": True}}, "rule.error.status"),
    ({"error": {"error": ""}}, "rule.error.error"),
    ({"error": {"error": "x", "colour": "red"}}, "rule.error.colour"),
    ({"fault": {"kind": "explode"}}, "rule.fault.kind"),
    ({"fault": {"status": 700}}, "rule.fault.status"),
    ({"fault": {"body": 1}}, "rule.fault.body"),
    ({"delay": -1}, "rule.delay.seconds"),
    ({"delay": {"seconds": 1, "jitter": "a"}}, "rule.delay.jitter"),
    ({"delay": 301}, "rule.delay"),
    ({"bad_token": "slightly_off"}, "rule.bad_token.kind"),
    ({"bad_token": {"kind": "expired", "token": "refresh_token"}}, "rule.bad_token.token"),
    ({"skew": "1h"}, "rule.skew"),
    ({"skew": float("inf")}, "rule.skew"),
    ({"delay": float("nan")}, "rule.delay"),
    ({"claims": {"refresh_token": {"set": {}}}}, "rule.claims.refresh_token"),
    ({"claims": {"id_token": {"add": {}}}}, "rule.claims.id_token.add"),
    ({"claims": {"set": []}}, "rule.claims.set"),
    ({"claims": {"access_token": {"delete": [1]}}}, "rule.claims.access_token.delete"),
    ({"error": "invalid_grant", "expect": "no"}, "rule.expect"),
    ({"error": "invalid_grant", "colour": "red"}, "rule.colour: unknown field"),
])
def test_invalid_rule_specs_name_the_field(mockidp: MockIdP, spec: dict[str, Any],
                                           field: str) -> None:
    with pytest.raises(MockIdPError, match=re.escape(field)):
        mockidp.add_rule(spec)
    assert mockidp.list_rules() == []


@pytest.mark.parametrize("spec, message", [
    ({"endpoint": "token", "error": "invalid_grant", "claims": {"set": {"a": 1}}},
     "cannot be combined with claims"),
    ({"endpoint": "token", "fault": 500, "skew": 5}, "cannot be combined"),
    ({"endpoint": "token", "error": "invalid_grant", "bad_token": "expired"},
     "cannot be combined"),
    ({"endpoint": "token", "error": "invalid_grant", "fault": 500}, "either an error or a fault"),
    ({"endpoint": "token"}, "expected at least one effect"),
])
def test_invalid_effect_combinations(mockidp: MockIdP, spec: dict[str, Any],
                                     message: str) -> None:
    with pytest.raises(MockIdPError, match=message):
        mockidp.add_rule(spec)


def test_duplicate_rule_id_is_refused(mockidp: MockIdP) -> None:
    mockidp.add_rule(id="dup", endpoint="token", error="invalid_grant", expect=False)
    with pytest.raises(MockIdPError, match="'dup' is already in use"):
        mockidp.add_rule(id="dup", endpoint="token", error="invalid_grant")


def test_keyword_and_json_shapes_are_the_same_rule(mockidp: MockIdP) -> None:
    by_keywords = mockidp.add_rule(endpoint="token", error="invalid_grant", expect=False)
    by_json = mockidp.add_rule({"match": {"endpoint": "token"},
                                "error": {"error": "invalid_grant"}}, expect=False)
    strip = ("id", "fired", "active")
    assert {k: v for k, v in by_keywords.as_json().items() if k not in strip} == \
        {k: v for k, v in by_json.as_json().items() if k not in strip}
