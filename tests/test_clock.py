"""The provider clock (`mockidp.clock`): skew, freeze, advance, reset, in Python and over the
control API.

The provider's time moves; the test process's time (`time.time`) never does.  That difference
is the point: a token can be valid for the provider and invalid for a resource server that
checks it with the real clock.  Where real time is involved, time stamps are checked between
the real times taken before and after the request, never against a wall-clock threshold.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import jwt
import pytest
import requests

from mockidp import MockIdP, MockIdPError

from .conftest import REDIRECT, code_for, token_url

WEB = ("web-app", "web-secret")
M2M = ("m2m", "m2m-secret")  # an unregistered client: the config's access lifetime, 300 s
LIFETIME = 300
Y2030 = 1_893_456_000  # 2030-01-01T00:00:00Z
EPOCH = 1_900_000_000
REAL_TIME = time.time  # the function itself, to show nobody replaced it


# -- helpers ----------------------------------------------------------------------------------

def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def client_credentials(idp: MockIdP) -> dict[str, Any]:
    response = requests.post(token_url(idp), auth=M2M, data={"grant_type": "client_credentials"})
    assert response.status_code == 200, response.text
    return response.json()


def exchange(idp: MockIdP, code: str) -> requests.Response:
    return requests.post(token_url(idp), auth=WEB,
                         data={"grant_type": "authorization_code", "code": code,
                               "redirect_uri": REDIRECT})


def refresh(idp: MockIdP, refresh_token: str) -> requests.Response:
    return requests.post(token_url(idp), auth=WEB,
                         data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def code_flow(idp: MockIdP) -> dict[str, Any]:
    response = exchange(idp, code_for(idp, scope="openid email"))
    assert response.status_code == 200, response.text
    return response.json()


def introspect(idp: MockIdP, token: str) -> dict[str, Any]:
    response = requests.post(f"{idp.issuer_url()}/introspect", data={"token": token}, auth=WEB)
    assert response.status_code == 200, response.text
    return response.json()


def userinfo(idp: MockIdP, token: str) -> requests.Response:
    return requests.get(f"{idp.issuer_url()}/userinfo",
                        headers={"Authorization": f"Bearer {token}"})


def resource_server(idp: MockIdP, token: str, audience: str = "m2m") -> dict[str, Any]:
    """A resource server: PyJWT with the JWKS over HTTP and the real clock, no leeway."""
    key = jwt.PyJWKClient(f"{idp.issuer_url()}/jwks").get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=audience,
                      issuer=idp.issuer_url())


def control(idp: MockIdP) -> str:
    return f"{idp.url}/_mockidp/clock"


def assert_issued_between(iat: int, before: float, after: float, shift: float) -> None:
    """``iat`` is whole provider seconds taken between two real times, shifted by ``shift``
    (one second of slack for the rounding of floats)."""
    assert int(before + shift) - 1 <= iat <= int(after + shift) + 1, (iat, before, after)


# -- skew ---------------------------------------------------------------------------------------

def test_starts_on_real_time(mockidp: MockIdP) -> None:
    state = mockidp.clock_state()
    assert state["frozen"] is False and state["offset"] == pytest.approx(0, abs=1)


def test_skew_ahead_token_is_not_yet_valid_for_the_real_clock(mockidp: MockIdP) -> None:
    state = mockidp.set_clock(skew=600)
    assert state["offset"] == pytest.approx(600, abs=1) and state["frozen"] is False
    before = time.time()
    body = client_credentials(mockidp)
    after = time.time()
    claims = claims_of(body["access_token"])
    assert_issued_between(claims["iat"], before, after, 600)
    assert claims["nbf"] == claims["iat"]
    assert body["expires_in"] == claims["exp"] - claims["iat"] == LIFETIME
    # the real clock says: not yet valid (iat / nbf in the future) ...
    with pytest.raises(jwt.ImmatureSignatureError, match=r"iat|nbf"):
        resource_server(mockidp, body["access_token"])
    # ... while the provider, on its own clock, says the token is fine
    assert introspect(mockidp, body["access_token"])["active"] is True
    assert userinfo(mockidp, body["access_token"]).status_code == 200


def test_small_skew_is_tolerated_with_leeway(mockidp: MockIdP) -> None:
    mockidp.set_clock(skew=30)
    token = client_credentials(mockidp)["access_token"]
    with pytest.raises(jwt.ImmatureSignatureError):
        resource_server(mockidp, token)
    key = jwt.PyJWKClient(f"{mockidp.issuer_url()}/jwks").get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="m2m", leeway=120)
    assert claims["sub"] == "m2m"


def test_skew_behind_token_is_already_expired_for_the_real_clock(mockidp: MockIdP) -> None:
    mockidp.set_clock(skew=-600)
    before = time.time()
    body = client_credentials(mockidp)
    after = time.time()
    claims = claims_of(body["access_token"])
    assert_issued_between(claims["iat"], before, after, -600)
    assert body["expires_in"] == claims["exp"] - claims["iat"] == LIFETIME
    with pytest.raises(jwt.ExpiredSignatureError):
        resource_server(mockidp, body["access_token"])
    assert introspect(mockidp, body["access_token"])["active"] is True
    assert userinfo(mockidp, body["access_token"]).status_code == 200


def test_skew_shifts_the_id_token_and_the_code_flow(mockidp: MockIdP) -> None:
    mockidp.set_clock(skew=-3600)
    before = time.time()
    tokens = code_flow(mockidp)
    after = time.time()
    id_token = claims_of(tokens["id_token"])
    assert_issued_between(id_token["iat"], before, after, -3600)
    assert_issued_between(id_token["auth_time"], before, after, -3600)
    with pytest.raises(jwt.ExpiredSignatureError):
        resource_server(mockidp, tokens["id_token"], audience="web-app")


def test_skew_replaces_the_previous_skew(mockidp: MockIdP) -> None:
    mockidp.set_clock(skew=100)
    state = mockidp.set_clock(skew=-100)
    assert state["offset"] == pytest.approx(-100, abs=1)


def test_the_global_clock_is_never_patched(mockidp: MockIdP) -> None:
    year = 365 * 86400
    mockidp.set_clock(skew=year)
    assert time.time is REAL_TIME
    # time.time agrees with the operating system's clock and with datetime
    assert abs(time.time() - time.clock_gettime(time.CLOCK_REALTIME)) < 60
    assert abs(time.time() - dt.datetime.now(dt.UTC).timestamp()) < 60
    assert mockidp.clock.now() - time.time() == pytest.approx(year, abs=60)
    # the journal keeps both times of every exchange
    client_credentials(mockidp)
    call = mockidp.calls(endpoint="token")[-1]
    assert call.provider_time - call.time == pytest.approx(year, abs=60)
    assert abs(call.time - time.time()) < 3600


# -- freeze and advance -------------------------------------------------------------------------

@pytest.mark.parametrize("at", ["2030-01-01T00:00:00Z", "2030-01-01T00:00:00+00:00",
                                "2030-01-01T01:00:00+01:00", Y2030, float(Y2030)])
def test_freeze_at_a_time(mockidp: MockIdP, at: Any) -> None:
    state = mockidp.set_clock(freeze=at)
    assert state == {"now": Y2030, "offset": pytest.approx(Y2030 - time.time(), abs=60),
                     "frozen": True}
    body = client_credentials(mockidp)
    claims = claims_of(body["access_token"])
    assert claims["iat"] == claims["nbf"] == Y2030
    assert claims["exp"] == Y2030 + LIFETIME and body["expires_in"] == LIFETIME
    assert client_credentials(mockidp)["expires_in"] == LIFETIME  # still 2030, to the second
    assert claims_of(client_credentials(mockidp)["access_token"])["iat"] == Y2030


def test_freeze_at_epoch_seconds(mockidp: MockIdP) -> None:
    mockidp.set_clock(freeze=EPOCH)
    tokens = code_flow(mockidp)
    for kind in ("access_token", "id_token"):
        assert claims_of(tokens[kind])["iat"] == EPOCH, kind
    assert claims_of(tokens["id_token"])["auth_time"] == EPOCH
    assert claims_of(mockidp.mint("alice"))["iat"] == EPOCH


def test_freeze_now_and_unfreeze(mockidp: MockIdP) -> None:
    before = time.time()
    frozen = mockidp.set_clock(freeze=True)
    assert frozen["frozen"] is True and before <= frozen["now"]
    assert mockidp.clock_state()["now"] == frozen["now"]
    mockidp.set_clock(freeze=EPOCH)
    thawed = mockidp.set_clock(freeze=False)
    assert thawed["frozen"] is False and thawed["now"] >= EPOCH  # runs on from where it was
    assert mockidp.clock.now() >= thawed["now"]


def test_advance_expires_an_authorization_code(mockidp: MockIdP) -> None:
    mockidp.set_clock(freeze=EPOCH)
    fresh = code_for(mockidp)
    mockidp.set_clock(advance=59)  # codes live 60 s
    assert exchange(mockidp, fresh).status_code == 200
    stale = code_for(mockidp)
    mockidp.set_clock(advance=61)
    response = exchange(mockidp, stale)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_advance_without_freeze_expires_an_authorization_code(mockidp: MockIdP) -> None:
    code = code_for(mockidp)
    state = mockidp.set_clock(advance=61)
    assert state["frozen"] is False and state["offset"] == pytest.approx(61, abs=1)
    assert exchange(mockidp, code).json()["error"] == "invalid_grant"


def test_advance_past_the_access_token_lifetime(mockidp: MockIdP) -> None:
    mockidp.set_clock(freeze=EPOCH)
    access = code_flow(mockidp)["access_token"]
    mockidp.set_clock(advance=LIFETIME - 1)
    assert userinfo(mockidp, access).status_code == 200
    assert introspect(mockidp, access)["active"] is True
    mockidp.set_clock(advance=2)
    expired = userinfo(mockidp, access)
    assert expired.status_code == 401 and expired.json()["error"] == "invalid_token"
    assert expired.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert introspect(mockidp, access) == {"active": False}
    mockidp.set_clock(advance=-10)  # back in time: valid again
    assert introspect(mockidp, access)["active"] is True


def test_refresh_token_expires_on_the_provider_clock(mockidp: MockIdP) -> None:
    mockidp.set_clock(freeze=EPOCH)
    first = code_flow(mockidp)["refresh_token"]
    second = code_flow(mockidp)["refresh_token"]
    day = 86400  # default refresh token lifetime
    mockidp.set_clock(advance=day - 1)
    refreshed = refresh(mockidp, first)
    assert refreshed.status_code == 200, refreshed.text
    assert claims_of(refreshed.json()["access_token"])["iat"] == EPOCH + day - 1
    assert introspect(mockidp, second)["active"] is True
    mockidp.set_clock(advance=2)
    assert introspect(mockidp, second) == {"active": False}
    response = refresh(mockidp, second)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_set_clock_applies_reset_skew_freeze_advance_in_order(mockidp: MockIdP) -> None:
    state = mockidp.set_clock(reset=True, skew=500, freeze=EPOCH, advance=10)
    assert state["now"] == EPOCH + 10 and state["frozen"] is True
    state = mockidp.set_clock(reset=True, advance=10)
    assert state["frozen"] is False and state["offset"] == pytest.approx(10, abs=1)
    state = mockidp.set_clock(reset=True)
    assert state["frozen"] is False and state["offset"] == pytest.approx(0, abs=1)


@pytest.mark.parametrize("kwargs, field", [
    ({"skew": "soon"}, "clock.skew"),
    ({"skew": True}, "clock.skew"),
    ({"freeze": "yesterday"}, "clock.freeze"),
    ({"freeze": [2030]}, "clock.freeze"),
    ({"advance": "10"}, "clock.advance"),
    ({"skew": float("inf")}, "clock.skew"),
    ({"skew": float("nan")}, "clock.skew"),
    ({"freeze": float("inf")}, "clock.freeze"),
    ({"advance": float("nan")}, "clock.advance"),
])
def test_bad_clock_values_raise_naming_the_field(mockidp: MockIdP, kwargs: dict[str, Any],
                                                 field: str) -> None:
    with pytest.raises(MockIdPError, match=re.escape(field)):
        mockidp.set_clock(**kwargs)
    state = mockidp.clock_state()
    assert state["frozen"] is False and state["offset"] == pytest.approx(0, abs=1)


def test_a_rejected_set_clock_changes_nothing(mockidp: MockIdP) -> None:
    with pytest.raises(MockIdPError, match=re.escape("clock.advance")):
        mockidp.set_clock(skew=30, freeze=EPOCH, advance="later")  # type: ignore[arg-type]
    state = mockidp.clock_state()
    assert state["frozen"] is False and state["offset"] == pytest.approx(0, abs=1)


# -- per-mint and per-rule skew -----------------------------------------------------------------

def test_mint_skew_shifts_one_token(mockidp: MockIdP) -> None:
    mockidp.set_clock(freeze=EPOCH)
    behind = claims_of(mockidp.mint("alice", skew=-3600))
    assert behind["iat"] == behind["nbf"] == EPOCH - 3600
    assert behind["exp"] == EPOCH - 3600 + LIFETIME
    ahead = claims_of(mockidp.mint("alice", skew=90, expires_in=60))
    assert ahead["iat"] == EPOCH + 90 and ahead["exp"] == EPOCH + 150
    assert claims_of(mockidp.mint("alice"))["iat"] == EPOCH  # the clock itself did not move
    assert mockidp.clock_state()["now"] == EPOCH


def test_mint_skew_against_the_real_clock(mockidp: MockIdP) -> None:
    ahead = mockidp.mint("alice", audience="m2m", skew=600)
    with pytest.raises(jwt.ImmatureSignatureError):
        resource_server(mockidp, ahead)
    behind = mockidp.mint("alice", audience="m2m", skew=-600)
    with pytest.raises(jwt.ExpiredSignatureError):
        resource_server(mockidp, behind)
    # the provider's clock is real time here, so it agrees
    assert introspect(mockidp, behind) == {"active": False}


def test_bad_mint_skew_names_the_argument(mockidp: MockIdP) -> None:
    with pytest.raises(MockIdPError, match="mint: skew"):
        mockidp.mint("alice", skew="1h")  # type: ignore[arg-type]


def test_rule_skew_adds_to_the_provider_clock(mockidp: MockIdP) -> None:
    mockidp.set_clock(freeze=EPOCH)
    mockidp.add_rule(endpoint="token", skew=-30)
    assert claims_of(client_credentials(mockidp)["access_token"])["iat"] == EPOCH - 30
    assert claims_of(client_credentials(mockidp)["access_token"])["iat"] == EPOCH  # once
    mockidp.set_clock(reset=True, skew=100)
    mockidp.add_rule(endpoint="token", skew=50)
    before = time.time()
    iat = claims_of(client_credentials(mockidp)["access_token"])["iat"]
    after = time.time()
    assert_issued_between(iat, before, after, 150)


# -- the control API ----------------------------------------------------------------------------

def test_control_api_skew(mockidp: MockIdP) -> None:
    response = requests.post(control(mockidp), json={"skew": 30})
    assert response.status_code == 200
    assert response.json()["offset"] == pytest.approx(30, abs=1)
    state = requests.get(control(mockidp)).json()
    assert state["offset"] == pytest.approx(30, abs=1) and state["frozen"] is False
    assert mockidp.clock_state()["offset"] == pytest.approx(30, abs=1)
    before = time.time()
    iat = claims_of(client_credentials(mockidp)["access_token"])["iat"]
    after = time.time()
    assert_issued_between(iat, before, after, 30)


def test_control_api_freeze_advance_reset(mockidp: MockIdP) -> None:
    frozen = requests.post(control(mockidp), json={"freeze": "2030-01-01T00:00:00Z"}).json()
    assert frozen["now"] == Y2030 and frozen["frozen"] is True
    assert requests.get(control(mockidp)).json()["now"] == Y2030
    assert claims_of(client_credentials(mockidp)["access_token"])["iat"] == Y2030
    advanced = requests.post(control(mockidp), json={"advance": 10}).json()
    assert advanced["now"] == Y2030 + 10 and advanced["frozen"] is True
    assert claims_of(client_credentials(mockidp)["access_token"])["iat"] == Y2030 + 10
    by_epoch = requests.post(control(mockidp), json={"freeze": EPOCH}).json()
    assert by_epoch["now"] == EPOCH
    reset = requests.post(control(mockidp), json={"reset": True})
    assert reset.status_code == 200
    state = requests.get(control(mockidp)).json()
    assert state["frozen"] is False and state["offset"] == pytest.approx(0, abs=1)


def test_control_api_combined_body(mockidp: MockIdP) -> None:
    state = requests.post(control(mockidp), json={"reset": True, "freeze": EPOCH,
                                                  "advance": 5}).json()
    assert state == {"now": EPOCH + 5, "offset": pytest.approx(EPOCH + 5 - time.time(), abs=60),
                     "frozen": True}


@pytest.mark.parametrize("body, field", [
    ({"skew": "soon"}, "clock.skew"),
    ({"skew": True}, "clock.skew"),
    ({"skew": None, "freeze": "next tuesday"}, "clock.freeze"),
    ({"freeze": {"at": 1}}, "clock.freeze"),
    ({"advance": "10"}, "clock.advance"),
    ({"reset": "yes"}, "clock.reset"),
    ({"speed": 2}, "clock.speed"),
])
def test_control_api_bad_values(mockidp: MockIdP, body: dict[str, Any], field: str) -> None:
    response = requests.post(control(mockidp), json=body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["error"] == "invalid_request" and field in answer["error_description"]
    state = requests.get(control(mockidp)).json()
    assert state["frozen"] is False and state["offset"] == pytest.approx(0, abs=1)


@pytest.mark.parametrize("raw, field", [
    ('{"skew": 1e999}', "clock.skew"),
    ('{"skew": NaN}', "clock.skew"),
    ('{"freeze": Infinity}', "clock.freeze"),
    ('{"advance": -Infinity}', "clock.advance"),
])
def test_control_api_refuses_non_finite_numbers(mockidp: MockIdP, raw: str, field: str) -> None:
    """Python's JSON parser lets 1e999, NaN and Infinity through: the clock must not."""
    response = requests.post(control(mockidp), data=raw,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert field in response.json()["error_description"]
    assert requests.post(token_url(mockidp), auth=M2M,
                         data={"grant_type": "client_credentials"}).status_code == 200


def test_control_api_rejected_body_changes_nothing(mockidp: MockIdP) -> None:
    response = requests.post(control(mockidp), json={"skew": 30, "advance": "later"})
    assert response.status_code == 400
    assert "clock.advance" in response.json()["error_description"]
    state = requests.get(control(mockidp)).json()
    assert state["offset"] == pytest.approx(0, abs=1)


def test_control_api_body_must_be_json(mockidp: MockIdP) -> None:
    response = requests.post(control(mockidp), data="skew=30",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
