"""The dashboard (``GET /``) and the token debugger (``/debugger``, ``POST /_mockidp/inspect``,
`MockIdP.inspect_token`): what they show after real exchanges, what they never show, their
verdicts on good and bad tokens, and who may see them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests

from mockidp import MockIdP

from .a11y import elements, page_problems
from .conftest import REDIRECT, SAMPLE_CONFIG, code_for, token_url

SECRETS = ("web-secret", "orders-secret", "bob-password")


@pytest.fixture(scope="module")
def idp() -> Iterator[MockIdP]:
    with MockIdP(SAMPLE_CONFIG) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(idp: MockIdP) -> None:
    idp.reset()


def header_of(token: str) -> dict[str, Any]:
    header: dict[str, Any] = jwt.get_unverified_header(token)
    return header


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def a_few_exchanges(idp: MockIdP) -> dict[str, str]:
    """A machine token, a password login (secrets in the body) and a code flow."""
    machine = requests.post(token_url(idp), auth=("orders-service", "orders-secret"),
                            data={"grant_type": "client_credentials"}).json()["access_token"]
    password = requests.post(token_url(idp), data={
        "grant_type": "password", "username": "bob", "password": "bob-password",
        "client_id": "web-app", "client_secret": "web-secret", "scope": "openid email"}).json()
    code = code_for(idp, scope="openid profile")
    browser = requests.post(token_url(idp), auth=("web-app", "web-secret"), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}).json()
    return {"machine": machine, "password": password["access_token"],
            "id_token": browser["id_token"], "code_access": browser["access_token"]}


# -- the dashboard ------------------------------------------------------------------------------

def test_dashboard_shows_issuers_users_clients_rules_and_clock(idp: MockIdP) -> None:
    idp.add_rule(id="slow-token", endpoint="token", client_id="nobody", delay=0.01, times=2,
                 expect=False)
    idp.add_rule(id="gold", endpoint="token", claims={"set": {"tier": "gold"}},
                 times="always")
    a_few_exchanges(idp)
    page = requests.get(idp.url + "/")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert page.headers["Cache-Control"] == "no-store"
    html = page.text
    for issuer in ("default", "partner"):
        url = idp.issuer_url(issuer)
        assert elements(html, "a", href=f"{url}/.well-known/openid-configuration"), issuer
        assert elements(html, "a", href=f"{url}/jwks"), issuer
    for shown in ("Alice Admin", "carol@partner.example", "orders-service", "spa",
                  "orders-api", "slow-token", "gold"):
        assert shown in html, shown
    cells = [[" ".join(td.text.split()) for td in row.children if td.tag == "td"]
             for row in elements(html, "tr")]
    rules = {row[0]: row for row in cells if row and row[0] in ("slow-token", "gold")}
    assert rules["gold"][-3:] == ["always", "3", "yes"]  # fired at every token request
    assert rules["slow-token"][-3:] == ["2", "0", "yes"]
    assert "Provider clock" in html and str(int(idp.clock.now()))[:6] in html


def test_dashboard_journal_decodes_every_minted_token(idp: MockIdP) -> None:
    tokens = a_few_exchanges(idp)
    html = requests.get(idp.url + "/").text
    claims_blocks = [" ".join(e.text.split()) for e in elements(html, "pre")
                     if "token-claims" in e.attrs.get("class", "")]
    header_blocks = [" ".join(e.text.split()) for e in elements(html, "pre")
                     if "token-header" in e.attrs.get("class", "")]
    for name in ("machine", "password", "id_token", "code_access"):
        claims = claims_of(tokens[name])
        assert any(f'"jti": "{claims["jti"]}"' in block for block in claims_blocks), name
        kid = header_of(tokens[name])["kid"]
        assert any(f'"kid": "{kid}"' in block for block in header_blocks), name
    assert any('"tenant": "acme"' in block for block in claims_blocks)  # client claims
    assert any('"nonce"' not in block and '"auth_time"' in block for block in claims_blocks)
    entries = [e for e in elements(html, "article") if "exchange" in e.attrs.get("class", "")]
    assert len(entries) == len(idp.calls())
    assert "/default/token" in entries[0].text  # newest first


def test_dashboard_shows_no_secrets(idp: MockIdP) -> None:
    idp.add_client("added", "added-secret-value")
    idp.add_user("dora", password="dora-password-value")
    a_few_exchanges(idp)
    requests.post(token_url(idp), data={"grant_type": "client_credentials",
                                        "client_id": "added",
                                        "client_secret": "added-secret-value"})
    with requests.Session() as browser:
        browser.get(f"{idp.issuer_url()}/authorize", params={
            "client_id": "web-app", "redirect_uri": REDIRECT, "response_type": "code",
            "login_hint": "alice"}, allow_redirects=False)
        session_cookie = browser.cookies.get("mockidp_session")
    html = requests.get(idp.url + "/").text
    data = json.dumps(idp.dashboard())
    for secret in (*SECRETS, "added-secret-value", "dora-password-value", session_cookie):
        assert secret and secret not in html, secret
        assert secret not in data, secret
    assert "confidential" in html and "public" in html


def test_the_core_method_feeds_the_page_plain_data(idp: MockIdP) -> None:
    tokens = a_few_exchanges(idp)
    data = idp.dashboard("http://example.test:1234", limit=2)
    assert json.loads(json.dumps(data)) == data  # plain JSON data
    default = next(i for i in data["issuers"] if i["name"] == "default")
    assert default["discovery"] == ("http://example.test:1234/default/.well-known/"
                                    "openid-configuration")
    assert {u["id"] for u in default["users"]} == {"alice", "bob"}
    assert all("secret" not in c for c in default["clients"])
    journal = data["journal"]
    assert journal["shown"] == 2 and journal["held"] == len(idp.calls())
    newest = journal["entries"][0]
    assert [t["name"] for t in newest["tokens"]] == ["access_token", "id_token"]
    assert newest["tokens"][0]["header"] == header_of(tokens["code_access"])
    assert newest["tokens"][0]["claims"] == claims_of(tokens["code_access"])
    assert idp.dashboard(limit=0)["journal"]["entries"] == []
    with pytest.raises(Exception, match="limit"):
        idp.dashboard(limit=-1)


def test_the_journal_keeps_the_header_of_each_minted_token(idp: MockIdP) -> None:
    tokens = a_few_exchanges(idp)
    exchange = idp.calls(endpoint="token", client_id="orders-service")[0]
    assert dict(exchange.headers["access_token"]) == header_of(tokens["machine"])
    over_http = requests.get(f"{idp.url}/_mockidp/journal?client_id=orders-service").json()
    assert over_http["calls"][0]["headers"]["access_token"]["kid"] == header_of(
        tokens["machine"])["kid"]


def test_dashboard_and_debugger_are_accessible_and_offline(idp: MockIdP) -> None:
    tokens = a_few_exchanges(idp)
    idp.add_rule(endpoint="token", error="invalid_grant", times=1, expect=False)
    pages = [requests.get(idp.url + "/"), requests.get(idp.url + "/debugger"),
             requests.post(idp.url + "/debugger", data={"token": tokens["id_token"]}),
             requests.post(idp.url + "/debugger", data={"token": "garbage"})]
    for page in pages:
        assert page.status_code == 200
        assert page_problems(page.text, (idp.url,)) == [], page.url
        assert not elements(page.text, "script")


def test_dashboard_can_refresh_itself_without_javascript(idp: MockIdP) -> None:
    refreshing = requests.get(idp.url + "/?refresh=5").text
    assert elements(refreshing, "meta", **{"http-equiv": "refresh", "content": "5"})
    for odd in ("0", "999", "x", "9" * 5000, "-1"):
        page = requests.get(idp.url + "/", params={"refresh": odd})
        assert page.status_code == 200 and not elements(page.text, "meta",
                                                        **{"http-equiv": "refresh"})


# -- the token debugger -------------------------------------------------------------------------

def test_a_good_token_verifies_with_its_issuer_key(idp: MockIdP) -> None:
    token = idp.mint("alice", audience="my-api")
    report = idp.inspect_token(token)
    assert report["verdict"] == "valid", report
    assert report["signature"]["status"] == "verified"
    assert report["signature"]["issuer"] == "default"
    assert report["signature"]["issuer_url"] == idp.issuer_url()
    assert (report["signature"]["kid"], report["signature"]["alg"]) == (
        header_of(token)["kid"], "RS256")
    assert report["header"] == header_of(token) and report["claims"] == claims_of(token)
    assert report["validity"]["status"] == "valid"
    assert report["validity"]["exp"]["value"] == claims_of(token)["exp"]
    assert report["validity"]["exp"]["iso"].endswith("Z")
    assert report["iss"] == {"value": idp.issuer_url(), "issuer": "default"}
    assert report["kind"] == "access token" and report["problems"] == []


def test_expiry_is_judged_on_the_provider_clock(idp: MockIdP) -> None:
    token = idp.mint("alice", expires_in=60)
    assert idp.inspect_token(token)["validity"]["status"] == "valid"
    idp.set_clock(advance=120)
    report = idp.inspect_token(token)
    assert report["verdict"] == "invalid"
    assert report["signature"]["status"] == "verified"
    assert report["validity"]["status"] == "expired"
    assert "expired" in report["summary"] and "ago" in report["validity"]["detail"]
    assert report["validity"]["now"]["value"] == pytest.approx(idp.clock.now(), abs=5)
    catalogue = idp.inspect_token(idp.mint_bad("expired"))
    assert catalogue["validity"]["status"] == "expired"
    early = idp.inspect_token(idp.mint_bad("not_yet_valid"))
    assert early["validity"]["status"] == "not_yet_valid" and early["verdict"] == "invalid"
    idp.set_clock(advance=7200)
    assert idp.inspect_token(idp.mint_bad("not_yet_valid"))["verdict"] == "invalid"  # fresh


def test_a_token_of_another_issuer_of_this_provider(idp: MockIdP) -> None:
    token = idp.mint("carol", issuer="partner")
    report = idp.inspect_token(token)
    assert report["verdict"] == "valid", report
    assert report["signature"]["issuer"] == "partner"
    assert report["signature"]["alg"] == "ES256"
    assert report["iss"]["issuer"] == "partner"
    assert "partner" in report["summary"]


@pytest.mark.parametrize(("kind", "signature"), [
    ("bad_signature", "invalid"),
    ("unknown_kid", "unknown_kid"),
    ("rotated_out", "unknown_kid"),
    ("alg_none", "unsigned"),
    ("hs256_public_key", "invalid"),
])
def test_signature_verdicts(idp: MockIdP, kind: str, signature: str) -> None:
    report = idp.inspect_token(idp.mint_bad(kind))
    assert report["verdict"] == "invalid", report
    assert report["signature"]["status"] == signature
    assert report["claims"]["sub"] == "user"  # still decoded, for reading
    if kind in ("bad_signature", "hs256_public_key"):
        assert report["signature"]["issuer"] == "default"
    if kind == "unknown_kid":
        assert report["signature"]["kid"] == header_of(idp.mint_bad(kind))["kid"]
        assert "kid" in report["summary"]


# well made tokens used where they do not belong: only the resource server (a user-only
# route, Auth0's /userinfo, a Cognito API checking token_use and client_id, a Keycloak
# adapter checking typ, an Okta API asserting cid) knows, so the debugger finds them valid
MISUSED_KINDS = frozenset({"auth0_m2m_token", "auth0_no_userinfo_audience",
                           "cognito_id_as_access", "cognito_other_client",
                           "keycloak_id_token", "keycloak_refresh_token",
                           "okta_id_token", "okta_other_cid"})


@pytest.mark.parametrize("kind", sorted(MockIdP().bad_token_kinds()))
def test_every_bad_token_of_the_catalogue_gets_a_verdict(idp: MockIdP, kind: str) -> None:
    report = idp.inspect_token(idp.mint_bad(kind, audience="my-api"))
    assert report["summary"]
    if kind == "wrong_audience":  # only the resource server knows which audience it wants
        assert report["verdict"] == "valid"
        assert any("audience" in note for note in report["notes"])
    elif kind in MISUSED_KINDS:
        assert report["verdict"] == "valid", report
    elif kind.startswith("malformed"):
        assert report["verdict"] == "malformed", report
    else:
        assert report["verdict"] == "invalid", report
        assert report["problems"]


@pytest.mark.parametrize("garbage", [
    "", "   ", "garbage", "a.b", "a.b.c", "a.b.c.d", "a.b.c.d.e", "....", "🙂.🙂.🙂",
    "eyJ", "eyJhbGciOiJSUzI1NiJ9..", "e30.e30.", "bnVsbA.bnVsbA.x", "W10.W10.x",
    "eyJhbGciOiJSUzI1NiIsImtpZCI6W119.e30.x", "eyJhbGciOm51bGx9.e30.x",
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJleHAiOjFlNDAwfQ.x",
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJleHAiOk5hTn0.x",
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJleHAiOjF9.x",
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJleHAiOjk5OTk5OTk5OTk5OTk5OTk5OTk5fQ.x",
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJleHAiOnRydWUsImlzcyI6W119.x",
    "x" * 100_000, "\x00\x01", "Bearer ", None, 42, ["a"], {"token": "x"},
])
def test_garbage_gets_an_explanation_never_an_exception(idp: MockIdP, garbage: Any) -> None:
    report = idp.inspect_token(garbage)
    assert report["verdict"] in ("malformed", "invalid")
    assert report["summary"] and report["problems"]
    json.dumps(report, allow_nan=False)  # strict JSON, whatever came in


def test_pasted_tokens_are_forgiven_their_scheme_and_line_breaks(idp: MockIdP) -> None:
    token = idp.mint("alice")
    wrapped = "Bearer " + "\n".join(token[i:i + 60] for i in range(0, len(token), 60)) + "\n"
    assert idp.inspect_token(wrapped)["verdict"] == "valid"


def test_opaque_and_revoked_and_wrong_issuer_tokens(idp: MockIdP) -> None:
    idp.add_client("ref", "ref-secret", access_token_format="opaque")
    answer = requests.post(token_url(idp), auth=("ref", "ref-secret"),
                           data={"grant_type": "client_credentials"}).json()
    report = idp.inspect_token(answer["access_token"])
    assert (report["format"], report["verdict"]) == ("opaque", "valid"), report
    assert report["signature"]["status"] == "not_applicable"
    assert report["claims"]["client_id"] == "ref"
    revoked = idp.inspect_token(idp.mint_bad("revoked"))
    assert revoked["verdict"] == "invalid" and any("revoked" in p for p in revoked["problems"])
    wrong = idp.inspect_token(idp.mint_bad("wrong_issuer"))
    assert wrong["signature"]["status"] == "verified" and wrong["verdict"] == "invalid"
    assert any("iss" in p for p in wrong["problems"])


def test_the_debugger_page_is_a_plain_form(idp: MockIdP) -> None:
    empty = requests.get(idp.url + "/debugger")
    form = elements(empty.text, "form")[0]
    assert (form.attrs["method"], form.attrs["action"]) == ("post", "/debugger")
    assert elements(empty.text, "textarea", id="token", name="token")
    assert not elements(empty.text, "p", id="verdict")
    cases = {
        idp.mint("alice"): ("valid", "verified", "valid"),
        idp.mint_bad("expired"): ("invalid", "verified", "expired"),
        idp.mint("carol", issuer="partner"): ("valid", "verified", "valid"),
        idp.mint_bad("bad_signature"): ("invalid", "invalid", "valid"),
        idp.mint_bad("unknown_kid"): ("invalid", "unknown_kid", "valid"),
        "not a token at all": ("malformed", "not_checked", "unknown"),
    }
    for token, (verdict, signature, validity) in cases.items():
        page = requests.post(idp.url + "/debugger", data={"token": token})
        assert page.status_code == 200
        assert elements(page.text, "span", id="verdict")[0].attrs["data-verdict"] == verdict
        assert elements(page.text, "dd", id="signature-status")[0].attrs[
            "data-status"] == signature
        assert elements(page.text, "dd", id="validity-status")[0].attrs[
            "data-status"] == validity
        assert elements(page.text, "textarea", id="token")[0].text == token  # kept
    shown = requests.post(idp.url + "/debugger", data={"token": idp.mint("alice")}).text
    assert '"sub": "alice"' in " ".join(elements(shown, "pre", id="claims")[0].text.split())
    assert '"alg": "RS256"' in elements(shown, "pre", id="header")[0].text
    odd = requests.post(idp.url + "/debugger", data=b"token=%ff%fe\x00",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert odd.status_code == 200


def test_the_control_api_inspects_too(idp: MockIdP) -> None:
    token = idp.mint("carol", issuer="partner")
    answer = requests.post(f"{idp.url}/_mockidp/inspect", json={"token": token})
    assert answer.status_code == 200
    report, direct = answer.json(), idp.inspect_token(token, idp.url)
    for key in ("verdict", "format", "kind", "header", "claims", "signature", "iss", "problems"):
        assert report[key] == direct[key], key
    assert report["signature"]["issuer"] == "partner"
    assert requests.post(f"{idp.url}/_mockidp/inspect",
                         json={"token": "x"}).json()["verdict"] == "malformed"
    for body in ({}, {"token": 5}, {"token": "x", "more": 1}):
        refused = requests.post(f"{idp.url}/_mockidp/inspect", json=body)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"


# -- who may see them ----------------------------------------------------------------------------

def test_no_control_means_no_dashboard_and_no_debugger() -> None:
    with MockIdP(control=False) as plain:
        for method, path in (("GET", "/"), ("GET", "/debugger"), ("POST", "/debugger"),
                             ("POST", "/unlock")):
            response = requests.request(method, plain.url + path, data={"token": "x"})
            assert response.status_code == 404, (method, path)


def test_a_control_token_guards_the_pages() -> None:
    with MockIdP(SAMPLE_CONFIG, control_token="s3cret") as guarded:
        for path in ("/", "/debugger"):
            locked = requests.get(guarded.url + path)
            assert locked.status_code == 401
            assert "Alice Admin" not in locked.text and "journal" not in locked.text.lower()
            assert page_problems(locked.text, (guarded.url,)) == []
            bearer = requests.get(guarded.url + path,
                                  headers={"Authorization": "Bearer s3cret"})
            assert bearer.status_code == 200
        assert requests.post(guarded.url + "/debugger", data={"token": "x"}).status_code == 401
        with requests.Session() as browser:
            wrong = browser.post(guarded.url + "/unlock",
                                 data={"control_token": "nope", "next": "/debugger"})
            assert wrong.status_code == 401 and "not the control token" in wrong.text
            right = browser.post(guarded.url + "/unlock",
                                 data={"control_token": "s3cret", "next": "/debugger"},
                                 allow_redirects=False)
            assert right.status_code == 303 and right.headers["Location"] == "/debugger"
            assert browser.get(guarded.url + "/").status_code == 200
            away = browser.post(guarded.url + "/unlock",
                                data={"control_token": "s3cret", "next": "https://evil/"},
                                allow_redirects=False)
            assert away.headers["Location"] == "/"
            # the cookie is for the pages, not for the control API
            assert browser.get(guarded.url + "/_mockidp/journal").status_code == 401
