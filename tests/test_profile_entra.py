"""The Microsoft Entra ID profile as MSAL for Python and @azure/msal-node use it, against an
HTTPS mockidp (MSAL refuses plain-HTTP authorities): client credentials with app roles, ROPC
for a public client, the authorization code flow through the login page, silent refresh,
accounts keyed ``oid.tid``, the logout URL, MSAL's instance discovery answered by us, tokens
an API verifies with Entra's documented checks, the bad-token kinds, and bad input on the new
paths answered in Entra's error shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import msal
import pytest
import requests

from mockidp import MockIdP
from mockidp.core.errors import MockIdPError
from mockidp.profiles.entra import GRAPH_APP_ID, OTHER_TENANT, guid

from .a11y import elements, form_fields
from .conftest import run_node

# MSAL warns about the legacy calls and ROPC these tests cover on purpose
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning:msal"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:response_mode:UserWarning")]
TENANT = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
API = "api://orders"
REDIRECT = "http://localhost:5000/getAToken"
CONFIG = {
    "users": {"alice": {"password": "pw", "claims": {
        "roles": ["Orders.Admin"], "name": "Alice Adams",
        "preferred_username": "alice@contoso.example", "email": "alice@contoso.example"}}},
    "clients": {
        "daemon": {"secret": "daemon-secret", "claims": {"roles": ["Orders.Sync"]}},
        "webapp": {"secret": "web-secret", "redirect_uris": [REDIRECT]},
        "desktop": {},  # public (no secret): ROPC
    },
    "issuers": {"contoso": {"profile": "entra", "tenant_id": TENANT}},
}


@pytest.fixture(scope="module")
def idp() -> Iterator[MockIdP]:
    with MockIdP(config=CONFIG, tls=True) as server:
        yield server


@pytest.fixture
def fresh(idp: MockIdP) -> Iterator[MockIdP]:
    idp.reset()
    yield idp


def authority(idp: MockIdP) -> str:
    return f"{idp.url}/{TENANT}"


def issuer(idp: MockIdP) -> str:
    return f"{idp.url}/{TENANT}/v2.0"


def ca(idp: MockIdP) -> str:
    return str(idp.tls_cert)


class OnlyOurs(requests.Session):
    """MSAL's documented ``http_client``: a requests session trusting our CA that refuses any
    host but ours, so a test can prove MSAL never reaches for login.microsoftonline.com.

    MSAL's user realm discovery (ROPC) asks ``https://{hostname}/common/userrealm/...``
    without the authority's port (``Authority.user_realm_discovery`` uses the host name
    only): on port 443 that reaches mockidp, which answers 404 (MSAL's cue to go on with
    plain ROPC).  Here the server is on another port, so the session sends that one request
    to our port, as a proxy in front of a test server would."""

    def __init__(self, idp: MockIdP) -> None:
        super().__init__()
        self.verify = ca(idp)
        self.netloc = urlsplit(idp.url).netloc
        self.asked: list[str] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any,  # type: ignore[override]
                **kwargs: Any) -> requests.Response:
        text = url.decode() if isinstance(url, bytes) else url
        parts = urlsplit(text)
        if parts.netloc == self.netloc.split(":")[0] and "/userrealm/" in parts.path:
            text = parts._replace(netloc=self.netloc).geturl()
        self.asked.append(text)
        assert urlsplit(text).netloc == self.netloc, f"MSAL went elsewhere: {text}"
        # passed per request: requests lets REQUESTS_CA_BUNDLE override ``session.verify``
        return super().request(method, text, *args, timeout=10,
                               **{"verify": self.verify, **kwargs})


def confidential(idp: MockIdP, client_id: str, secret: str,
                 **options: Any) -> msal.ConfidentialClientApplication:
    options.setdefault("instance_discovery", False)
    options.setdefault("http_client", OnlyOurs(idp))
    return msal.ConfidentialClientApplication(client_id, client_credential=secret,
                                              authority=authority(idp), **options)


def public(idp: MockIdP, client_id: str = "desktop") -> msal.PublicClientApplication:
    return msal.PublicClientApplication(client_id, authority=authority(idp),
                                        instance_discovery=False, http_client=OnlyOurs(idp))


def verify_like_an_api(idp: MockIdP, token: str, audience: str = API) -> dict[str, Any]:
    """What an API does with an Entra v2.0 access token (Microsoft identity platform, "Access
    tokens: validate tokens"): signature by a key of the tenant's JWKS (from its discovery
    document), RS256, ``aud`` = the API, ``iss`` = the tenant's v2.0 issuer, ``tid`` = the
    tenant, ``ver`` 2.0, lifetime checked."""
    doc = requests.get(f"{authority(idp)}/v2.0/.well-known/openid-configuration",
                       verify=ca(idp), timeout=10).json()
    keys = requests.get(doc["jwks_uri"], verify=ca(idp), timeout=10).json()
    header = jwt.get_unverified_header(token)
    key = next((k for k in keys["keys"] if k["kid"] == header["kid"]), None)
    if key is None:
        raise jwt.InvalidKeyError("kid not in the tenant's JWKS")
    claims: dict[str, Any] = jwt.decode(
        token, jwt.PyJWK(key).key, algorithms=["RS256"], audience=audience,
        issuer=doc["issuer"], options={"require": ["exp", "iat", "nbf", "tid", "ver"]})
    if claims["tid"] != TENANT:
        raise jwt.InvalidTokenError("token of another tenant")
    if claims["ver"] != "2.0":
        raise jwt.InvalidTokenError("not a v2.0 token")
    return claims


def sign_in(idp: MockIdP, auth_uri: str, user: str = "alice") -> dict[str, str]:
    """A person at the login page: open the authorize URL, pick ``user``, follow the
    redirect back to the app; the query of that redirect."""
    with requests.Session() as browser:
        page = browser.get(auth_uri, timeout=10, verify=ca(idp))
        assert page.status_code == 200, page.text
        assert "imitating Microsoft Entra ID" in page.text
        action = elements(page.text, "form")[0].attrs["action"]
        answer = browser.post(idp.url + action, data={**form_fields(page.text), "pick": user},
                              allow_redirects=False, timeout=10, verify=ca(idp))
        assert answer.status_code == 303, answer.text
        location = answer.headers["Location"]
        assert location.startswith(REDIRECT), location
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def unverified(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def test_client_credentials_give_an_app_only_token_with_the_clients_roles(fresh: MockIdP
                                                                           ) -> None:
    app = confidential(fresh, "daemon", "daemon-secret")
    result = app.acquire_token_for_client(scopes=[f"{API}/.default"])
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer" and result["token_source"] == "identity_provider"
    claims = verify_like_an_api(fresh, result["access_token"])
    assert claims["roles"] == ["Orders.Sync"] and "scp" not in claims
    assert claims["azp"] == "daemon" and claims["idtyp"] == "app"
    assert claims["sub"] == claims["oid"] == guid(TENANT, "app", "daemon")
    # the second call is answered from MSAL's cache
    again = app.acquire_token_for_client(scopes=[f"{API}/.default"])
    assert again["access_token"] == result["access_token"]
    assert again["token_source"] == "cache"
    call = fresh.calls(endpoint="token")[-1]
    assert call.params["client_info"] == "1"


def test_ropc_for_a_public_client_and_accounts_keyed_oid_tid(fresh: MockIdP) -> None:
    app = public(fresh)
    result = app.acquire_token_by_username_password(
        "alice", "pw", scopes=[f"{API}/Orders.Read", f"{API}/Orders.Write"])
    assert "access_token" in result, result
    claims = verify_like_an_api(fresh, result["access_token"])
    assert claims["scp"] == "Orders.Read Orders.Write"
    assert claims["roles"] == ["Orders.Admin"] and claims["azp"] == "desktop"
    assert claims["azpacr"] == "0"
    oid = claims["oid"]
    assert oid == guid(TENANT, "user", "alice")
    id_claims = result["id_token_claims"]
    assert id_claims["oid"] == oid and id_claims["tid"] == TENANT
    assert id_claims["preferred_username"] == "alice@contoso.example"
    assert id_claims["name"] == "Alice Adams" and id_claims["ver"] == "2.0"
    [account] = app.get_accounts()
    assert account["home_account_id"] == f"{oid}.{TENANT}"
    assert account["username"] == "alice@contoso.example"
    assert account["local_account_id"] == oid and account["realm"] == TENANT
    wrong = app.acquire_token_by_username_password("alice", "nope", scopes=[f"{API}/Orders.Read"])
    assert wrong["error"] == "invalid_grant" and wrong["error_codes"] == [50126]
    assert wrong["error_description"].startswith("AADSTS50126: ")


def test_auth_code_flow_through_the_login_page_then_silent_refresh(fresh: MockIdP) -> None:
    app = confidential(fresh, "webapp", "web-secret")
    flow = app.initiate_auth_code_flow([f"{API}/Orders.Read"], redirect_uri=REDIRECT)
    result = app.acquire_token_by_auth_code_flow(flow, sign_in(fresh, flow["auth_uri"]))
    assert "access_token" in result, result
    assert result["id_token_claims"]["nonce"] == unverified(result["id_token"])["nonce"]
    sent = fresh.calls(endpoint="authorize")[0].params
    assert unverified(result["id_token"])["nonce"] == sent["nonce"]  # exactly as MSAL sent it
    claims = verify_like_an_api(fresh, result["access_token"])
    assert claims["scp"] == "Orders.Read" and claims["azp"] == "webapp"
    [account] = app.get_accounts()
    assert account["home_account_id"] == f"{claims['oid']}.{TENANT}"
    cached = app.acquire_token_silent([f"{API}/Orders.Read"], account=account)
    assert cached is not None and cached["access_token"] == result["access_token"]
    refreshed = app.acquire_token_silent([f"{API}/Orders.Read"], account=account,
                                         force_refresh=True)
    assert refreshed is not None and "access_token" in refreshed, refreshed
    assert refreshed["access_token"] != result["access_token"]
    assert verify_like_an_api(fresh, refreshed["access_token"])["oid"] == claims["oid"]
    assert fresh.calls(endpoint="token")[-1].params["grant_type"] == "refresh_token"


def test_acquire_token_by_authorization_code_and_the_logout_url(fresh: MockIdP) -> None:
    app = confidential(fresh, "webapp", "web-secret")
    url = app.get_authorization_request_url([f"{API}/Orders.Read"], redirect_uri=REDIRECT,
                                            state="s1")
    answer = sign_in(fresh, url)
    assert answer["state"] == "s1"
    result = app.acquire_token_by_authorization_code(
        answer["code"], scopes=[f"{API}/Orders.Read"], redirect_uri=REDIRECT)
    assert "access_token" in result, result
    assert verify_like_an_api(fresh, result["access_token"])["scp"] == "Orders.Read"
    # the logout URL an app builds from the authority (identity / ms-identity-python)
    doc = requests.get(f"{authority(fresh)}/v2.0/.well-known/openid-configuration",
                       verify=ca(fresh), timeout=10).json()
    assert doc["end_session_endpoint"] == f"{authority(fresh)}/oauth2/v2.0/logout"
    bye = requests.get(doc["end_session_endpoint"], params={
        "post_logout_redirect_uri": "http://localhost:5000/", "client_id": "webapp",
        "id_token_hint": result["id_token"]}, verify=ca(fresh), allow_redirects=False,
        timeout=10)
    assert bye.status_code in (302, 303) and bye.headers["Location"].startswith(
        "http://localhost:5000/")


def test_userinfo_answers_graphs_fields(fresh: MockIdP) -> None:
    app = public(fresh)
    result = app.acquire_token_by_username_password("alice", "pw", scopes=["User.Read", "email"])
    assert "access_token" in result, result
    claims = unverified(result["access_token"])
    assert claims["aud"] == GRAPH_APP_ID and claims["scp"] == "User.Read"
    doc = requests.get(f"{authority(fresh)}/v2.0/.well-known/openid-configuration",
                       verify=ca(fresh), timeout=10).json()
    me = requests.get(doc["userinfo_endpoint"], verify=ca(fresh), timeout=10,
                      headers={"Authorization": f"Bearer {result['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json() == {"sub": "alice", "name": "Alice Adams",
                         "email": "alice@contoso.example"}


def test_discovery_and_msals_instance_discovery(fresh: MockIdP) -> None:
    doc = requests.get(f"{authority(fresh)}/v2.0/.well-known/openid-configuration",
                       verify=ca(fresh), timeout=10).json()
    base = authority(fresh)
    assert doc["issuer"] == issuer(fresh)
    assert doc["token_endpoint"] == f"{base}/oauth2/v2.0/token"
    assert doc["authorization_endpoint"] == f"{base}/oauth2/v2.0/authorize"
    assert doc["jwks_uri"] == f"{base}/discovery/v2.0/keys"
    assert doc["device_authorization_endpoint"] == f"{base}/oauth2/v2.0/devicecode"
    assert doc["userinfo_endpoint"] == f"{base}/oidc/userinfo"
    assert "introspection_endpoint" not in doc and "revocation_endpoint" not in doc
    keys = requests.get(doc["jwks_uri"], verify=ca(fresh), timeout=10).json()["keys"]
    assert keys and {k["kty"] for k in keys} == {"RSA"}
    # MSAL's own instance discovery, pointed at us (a documented switch), finds the tenant
    http = OnlyOurs(fresh)
    app = confidential(fresh, "daemon", "daemon-secret", http_client=http,
                       instance_discovery=f"{fresh.url}/common/discovery/instance")
    assert any("/common/discovery/instance" in url for url in http.asked)
    assert "access_token" in app.acquire_token_for_client(scopes=[f"{API}/.default"])
    found = requests.get(f"{fresh.url}/common/discovery/instance", verify=ca(fresh), params={
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize", "api-version": "1.1"},
        timeout=10).json()
    host = urlsplit(fresh.url).hostname
    assert found["tenant_discovery_endpoint"] == \
        f"{base}/v2.0/.well-known/openid-configuration"
    assert found["metadata"] == [{"preferred_network": host, "preferred_cache": host,
                                  "aliases": [host]}]
    # the multi-tenant documents name the {tenantid} placeholder
    for tenant in ("common", "organizations"):
        multi = requests.get(f"{fresh.url}/{tenant}/v2.0/.well-known/openid-configuration",
                             verify=ca(fresh), timeout=10).json()
        assert multi["issuer"] == f"{fresh.url}/{{tenantid}}/v2.0"
        assert multi["token_endpoint"] == doc["token_endpoint"]


def entra_shaped(answer: requests.Response, error: str | tuple[str, ...],
                 code: int | None = None) -> None:
    assert answer.status_code < 500, answer.text
    body = answer.json()
    assert body["error"] in ((error,) if isinstance(error, str) else error), body
    assert body["error_description"].startswith("AADSTS"), body
    assert "\r\nTrace ID: " in body["error_description"]
    assert "\r\nCorrelation ID: " in body["error_description"]
    assert "\r\nTimestamp: " in body["error_description"]
    assert isinstance(body["error_codes"], list) and body["error_codes"]
    assert body["error_description"].startswith(f"AADSTS{body['error_codes'][0]}: ")
    if code is not None:
        assert body["error_codes"] == [code]
    assert body["trace_id"] and body["correlation_id"] and body["timestamp"]


def test_bad_input_on_the_new_paths_answers_entras_error_shape(fresh: MockIdP) -> None:
    token = f"{authority(fresh)}/oauth2/v2.0/token"
    v = ca(fresh)
    entra_shaped(requests.post(token, data={"grant_type": "nope", "client_id": "x"}, verify=v,
                               timeout=10), "unsupported_grant_type", 70003)
    entra_shaped(requests.post(token, data={}, verify=v, timeout=10), "invalid_request", 900144)
    entra_shaped(requests.post(token, data={"grant_type": "client_credentials",
                                            "client_id": "daemon", "client_secret": "wrong"},
                               verify=v, timeout=10), "invalid_client", 7000215)
    entra_shaped(requests.post(token, data={"grant_type": "refresh_token",
                                            "client_id": "desktop", "refresh_token": "x"},
                               verify=v, timeout=10), "invalid_grant")
    entra_shaped(requests.post(token, data=b"\xff\xfe", verify=v, timeout=10, headers={
        "Content-Type": "application/x-www-form-urlencoded"}), ("invalid_request",
                                                                "invalid_client"))
    entra_shaped(requests.post(f"{authority(fresh)}/oauth2/v2.0/devicecode", data={},
                               verify=v, timeout=10), ("invalid_request", "invalid_client"))
    entra_shaped(requests.get(f"{authority(fresh)}/oidc/userinfo", verify=v, timeout=10,
                              headers={"Authorization": "Bearer nope"}), "invalid_token")
    discovery = f"{fresh.url}/common/discovery/instance"
    entra_shaped(requests.get(discovery, verify=v, timeout=10), "invalid_instance", 50049)
    entra_shaped(requests.get(discovery, params={
        "authorization_endpoint": f"https://login.elsewhere.example/{TENANT}/oauth2/v2.0/"
                                  "authorize"}, verify=v, timeout=10), "invalid_instance")
    entra_shaped(requests.get(discovery, params={"authorization_endpoint": "http://[::1"},
                              verify=v, timeout=10), "invalid_instance")
    assert requests.post(discovery, verify=v, timeout=10).status_code == 405


def test_bad_token_kinds_are_refused_by_an_entra_verifier(fresh: MockIdP) -> None:
    good = fresh.mint("alice", issuer="contoso", audience=API, scope=f"{API}/Orders.Read")
    assert verify_like_an_api(fresh, good)["tid"] == TENANT
    other = fresh.mint_bad("entra_other_tenant", issuer="contoso", audience=API)
    assert unverified(other)["tid"] == OTHER_TENANT
    with pytest.raises(jwt.InvalidIssuerError):
        verify_like_an_api(fresh, other)
    v1 = fresh.mint_bad("entra_v1_token", issuer="contoso", audience=API)
    assert unverified(v1)["ver"] == "1.0"
    assert unverified(v1)["iss"] == f"https://sts.windows.net/{TENANT}/"
    with pytest.raises(jwt.InvalidIssuerError):
        verify_like_an_api(fresh, v1)
    wrong_aud = fresh.mint_bad("wrong_audience", issuer="contoso", audience=API)
    with pytest.raises(jwt.InvalidAudienceError):
        verify_like_an_api(fresh, wrong_aud)
    assert {"entra_other_tenant", "entra_v1_token"} <= set(fresh.bad_token_kinds())


def test_msal_refuses_an_id_token_of_another_tenant(fresh: MockIdP) -> None:
    """MSAL's own ID-token check (``oauth2cli.oidc.decode_id_token`` with the issuer of the
    discovery document) refuses a token whose ``iss`` names another tenant."""
    from msal.oauth2cli.oidc import IdTokenError, decode_id_token

    good = fresh.mint("alice", issuer="contoso", audience="webapp")
    assert decode_id_token(good, client_id="webapp", issuer=issuer(fresh))["tid"] == TENANT
    for kind in ("entra_other_tenant", "entra_v1_token"):
        bad = fresh.mint_bad(kind, issuer="contoso", audience="webapp")
        with pytest.raises(IdTokenError):
            decode_id_token(bad, client_id="webapp", issuer=issuer(fresh))


def test_msal_node_client_credentials_code_flow_accounts_and_refresh(fresh: MockIdP) -> None:
    got = run_node("entra_msal.mjs", authority(fresh), API, "daemon", "daemon-secret",
                   "webapp", "web-secret", REDIRECT, "alice",
                   env={"NODE_EXTRA_CA_CERTS": ca(fresh)})
    m2m = verify_like_an_api(fresh, got["m2m"]["accessToken"])
    assert m2m["roles"] == ["Orders.Sync"] and "scp" not in m2m
    assert got["m2m"]["fromCache"] is False and got["m2mCached"]["fromCache"] is True
    assert got["m2mCached"]["accessToken"] == got["m2m"]["accessToken"]
    assert got["state"] == "node-state"
    claims = verify_like_an_api(fresh, got["byCode"]["accessToken"])
    assert claims["scp"] == "Orders.Read" and claims["roles"] == ["Orders.Admin"]
    oid = claims["oid"]
    id_claims = got["byCode"]["idTokenClaims"]
    assert id_claims["oid"] == oid and id_claims["tid"] == TENANT
    assert id_claims["preferred_username"] == "alice@contoso.example"
    assert got["byCode"]["uniqueId"] == oid and got["byCode"]["tenantId"] == TENANT
    assert got["byCode"]["homeAccountId"] == f"{oid}.{TENANT}"
    [account] = got["accounts"]
    assert account == {"homeAccountId": f"{oid}.{TENANT}", "username": "alice@contoso.example",
                       "localAccountId": oid, "tenantId": TENANT,
                       "environment": urlsplit(fresh.url).netloc}
    assert got["silent"] == {"accessToken": got["byCode"]["accessToken"], "fromCache": True}
    assert got["forced"]["fromCache"] is False
    assert got["forced"]["accessToken"] != got["byCode"]["accessToken"]
    for key in ("forced", "byRefresh"):
        assert verify_like_an_api(fresh, got[key]["accessToken"])["oid"] == oid
    grants = [c.params["grant_type"] for c in fresh.calls(endpoint="token")]
    assert grants == ["client_credentials", "authorization_code", "refresh_token",
                      "refresh_token"]
    authorize = fresh.calls(endpoint="authorize")[0].params
    assert authorize["client_info"] == "1" and "x-client-SKU" in authorize


def test_a_generic_issuer_hands_out_the_entra_kinds_too(fresh: MockIdP) -> None:
    v1 = unverified(fresh.mint_bad("entra_v1_token", audience=API))
    assert v1["ver"] == "1.0" and v1["iss"].startswith("https://sts.windows.net/")
    other = unverified(fresh.mint_bad("entra_other_tenant", audience=API))
    assert other["tid"] == OTHER_TENANT


def test_the_tenant_id_is_a_guid_derived_from_the_name_unless_given() -> None:
    with MockIdP(config={"issuers": {"fabrikam": {"profile": "entra"}}}) as server:
        tenant = guid("tenant", "fabrikam")
        doc = requests.get(f"{server.url}/{tenant}/v2.0/.well-known/openid-configuration",
                           timeout=10).json()
        assert doc["issuer"] == f"{server.url}/{tenant}/v2.0"
        assert unverified(server.mint("bob", issuer="fabrikam"))["tid"] == tenant
    with pytest.raises(MockIdPError, match=r"issuers.x.tenant_id: expected a GUID"):
        MockIdP(config={"issuers": {"x": {"profile": "entra", "tenant_id": "contoso"}}})


def test_device_code_flow_with_msals_message(fresh: MockIdP) -> None:
    app = public(fresh)
    flow = app.initiate_device_flow(scopes=[f"{API}/Orders.Read"])
    assert "user_code" in flow, flow
    assert flow["verification_uri"] == f"{authority(fresh)}/oauth2/v2.0/devicelogin"
    assert flow["message"] == (
        f"To sign in, use a web browser to open the page {flow['verification_uri']} and "
        f"enter the code {flow['user_code']} to authenticate.")
    # the person approves on the device page before the app first polls
    page = requests.post(flow["verification_uri"], data={
        "user_code": flow["user_code"], "step": "login", "action": "approve",
        "username": "alice"}, verify=ca(fresh), timeout=10)
    assert page.status_code == 200, page.text
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    claims = verify_like_an_api(fresh, result["access_token"])
    assert claims["scp"] == "Orders.Read" and claims["roles"] == ["Orders.Admin"]
    assert app.get_accounts()[0]["home_account_id"] == f"{claims['oid']}.{TENANT}"
