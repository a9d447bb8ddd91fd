"""Userinfo (OIDC Core §5.3), introspection (RFC 7662), revocation (RFC 7009)."""

from __future__ import annotations

import requests

from mockidp import MockIdP

from .conftest import REDIRECT, code_for, token_url


def tokens(idp: MockIdP, user: str = "alice", scope: str = "openid email") -> dict:
    code = code_for(idp, user=user, scope=scope)
    response = requests.post(token_url(idp), auth=("web-app", "web-secret"),
                             data={"grant_type": "authorization_code", "code": code,
                                   "redirect_uri": REDIRECT})
    assert response.status_code == 200, response.text
    return response.json()


def userinfo(idp: MockIdP, token: str, method: str = "GET") -> requests.Response:
    return requests.request(method, f"{idp.issuer_url()}/userinfo",
                            headers={"Authorization": f"Bearer {token}"})


def introspect(idp: MockIdP, token: str, **extra: str) -> dict:
    response = requests.post(f"{idp.issuer_url()}/introspect", data={"token": token, **extra},
                             auth=("web-app", "web-secret"))
    assert response.status_code == 200, response.text
    return response.json()


def revoke(idp: MockIdP, token: str, auth: tuple[str, str] = ("web-app", "web-secret"),
           **extra: str) -> requests.Response:
    return requests.post(f"{idp.issuer_url()}/revoke", data={"token": token, **extra},
                         auth=auth)


# -- userinfo -----------------------------------------------------------------------------------

def test_userinfo_answers_for_the_tokens_subject_and_scopes(mockidp: MockIdP) -> None:
    alice = userinfo(mockidp, tokens(mockidp, "alice", "openid email")["access_token"])
    assert alice.status_code == 200
    assert alice.json() == {"sub": "alice", "email": "alice@example.com",
                            "email_verified": True, "roles": ["admin", "user"]}
    bob = userinfo(mockidp, tokens(mockidp, "bob", "openid profile")["access_token"], "POST")
    assert bob.json() == {"sub": "bob", "name": "Bob Builder", "roles": ["user"]}


def test_userinfo_token_in_form_body(mockidp: MockIdP) -> None:
    access = tokens(mockidp)["access_token"]
    response = requests.post(f"{mockidp.issuer_url()}/userinfo", data={"access_token": access})
    assert response.status_code == 200 and response.json()["sub"] == "alice"


def test_userinfo_rejects_bad_expired_revoked_and_foreign_tokens(mockidp: MockIdP) -> None:
    access = tokens(mockidp)["access_token"]
    cases = {
        "garbage": "not.a.token",
        "tampered": access[:-4] + ("AAAA" if not access.endswith("AAAA") else "BBBB"),
        "other issuer": mockidp.mint("alice", issuer="elsewhere"),
        "expired": mockidp.mint("alice", expires_in=-10),
    }
    for name, token in cases.items():
        response = userinfo(mockidp, token)
        assert response.status_code == 401, name
        assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
        assert response.json()["error"] == "invalid_token", name
    assert revoke(mockidp, access).status_code == 200
    revoked = userinfo(mockidp, access)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error_description"]


def test_userinfo_without_token_is_401_bearer(mockidp: MockIdP) -> None:
    response = requests.get(f"{mockidp.issuer_url()}/userinfo")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    basic = requests.get(f"{mockidp.issuer_url()}/userinfo", auth=("a", "b"))
    assert basic.status_code == 401 and basic.json()["error"] == "invalid_token"


def test_userinfo_follows_the_provider_clock(mockidp: MockIdP) -> None:
    access = tokens(mockidp)["access_token"]  # lives 300 s (fixtures/config.toml)
    mockidp.clock.advance(301)
    assert userinfo(mockidp, access).status_code == 401
    mockidp.clock.reset()
    assert userinfo(mockidp, access).status_code == 200


# -- introspection ------------------------------------------------------------------------------

def test_introspect_access_and_refresh_tokens(mockidp: MockIdP) -> None:
    issued = tokens(mockidp)
    access = introspect(mockidp, issued["access_token"])
    assert access["active"] is True
    assert access["sub"] == "alice" and access["client_id"] == "web-app"
    assert access["scope"] == "openid email" and access["iss"] == mockidp.issuer_url()
    assert access["exp"] > access["iat"]
    refresh = introspect(mockidp, issued["refresh_token"], token_type_hint="refresh_token")
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"
    assert refresh["client_id"] == "web-app" and refresh["sub"] == "alice"


def test_introspect_inactive_answers_only_active_false(mockidp: MockIdP) -> None:
    for token in ("junk", mockidp.mint("a", expires_in=-1), mockidp.mint("a", issuer="x")):
        assert introspect(mockidp, token) == {"active": False}


def test_introspect_needs_token_and_checks_known_client_secret(mockidp: MockIdP) -> None:
    missing = requests.post(f"{mockidp.issuer_url()}/introspect", data={},
                            auth=("web-app", "web-secret"))
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    wrong = requests.post(f"{mockidp.issuer_url()}/introspect", data={"token": "x"},
                          auth=("web-app", "nope"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


# -- revocation ---------------------------------------------------------------------------------

def test_revoked_refresh_token_is_inactive_and_unusable(mockidp: MockIdP) -> None:
    issued = tokens(mockidp)
    assert revoke(mockidp, issued["refresh_token"],
                  token_type_hint="refresh_token").status_code == 200
    assert introspect(mockidp, issued["refresh_token"]) == {"active": False}
    refreshed = requests.post(token_url(mockidp), auth=("web-app", "web-secret"),
                              data={"grant_type": "refresh_token",
                                    "refresh_token": issued["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def test_revoked_access_token_is_inactive(mockidp: MockIdP) -> None:
    issued = tokens(mockidp)
    assert revoke(mockidp, issued["access_token"]).status_code == 200
    assert introspect(mockidp, issued["access_token"]) == {"active": False}
    # the refresh token of the same grant is untouched
    assert introspect(mockidp, issued["refresh_token"])["active"] is True


def test_revoking_unknown_token_is_fine_and_other_clients_token_is_refused(
    mockidp: MockIdP,
) -> None:
    assert revoke(mockidp, "never-issued").status_code == 200
    issued = tokens(mockidp)
    refused = revoke(mockidp, issued["refresh_token"], auth=("intruder", "x"))
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
    assert introspect(mockidp, issued["refresh_token"])["active"] is True


def test_revoke_requires_client_and_token(mockidp: MockIdP) -> None:
    anonymous = requests.post(f"{mockidp.issuer_url()}/revoke", data={"token": "x"})
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    no_token = requests.post(f"{mockidp.issuer_url()}/revoke", data={},
                             auth=("web-app", "web-secret"))
    assert no_token.status_code == 400 and no_token.json()["error"] == "invalid_request"


def test_revoking_a_refresh_token_revokes_access_tokens_of_the_grant(mockidp: MockIdP) -> None:
    # RFC 7009 §2.1: revoking a refresh token SHOULD invalidate access tokens of the same grant
    issued = tokens(mockidp)
    assert revoke(mockidp, issued["refresh_token"]).status_code == 200
    assert introspect(mockidp, issued["access_token"]) == {"active": False}
    assert userinfo(mockidp, issued["access_token"]).status_code == 401
