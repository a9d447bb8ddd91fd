"""openid-client (npm), the reference Node.js OpenID Connect client, against mockidp."""

from __future__ import annotations

from mockidp import MockIdP

from .conftest import REDIRECT, run_node


def test_openid_client_code_flow_with_pkce(mockidp: MockIdP) -> None:
    # openid-client validates discovery, the iss response parameter (RFC 9207), state, the ID
    # token (signature, iss, aud, nonce, at_hash) and the userinfo subject.
    result = run_node("code_flow.mjs", mockidp.issuer_url(), "web-app", "web-secret", REDIRECT,
                      "alice")
    assert result["claims"]["sub"] == "alice"
    assert result["claims"]["iss"] == mockidp.issuer_url()
    assert result["userinfo"]["email"] == "alice@example.com"
    assert result["token_type"].lower() == "bearer"
    assert result["has_refresh_token"] is True
