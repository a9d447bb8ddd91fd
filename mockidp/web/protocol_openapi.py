"""The OpenAPI 3.1 description of the protocol endpoints, served at
``/_mockidp/protocol-openapi.json``.

One path per entry of `mockidp.core.model.ENDPOINTS` (``/{issuer}`` + its path, with its methods),
plus the RFC 8414 §3 root form of the authorization server metadata.  It documents what a client
may send (form fields named as in the RFCs, query parameters, the ``Authorization`` and ``DPoP``
headers, the session cookies) and every answer the server gives without scripted rules: the RFC
6749 §5.2 error JSON, the HTML pages and redirects of the browser-facing endpoints, and what
the HTTP layer itself answers (404 no such issuer or path, 405 wrong method, 413 body too
large: the JSON form, or a page on a browser-facing endpoint).  A rule can make any endpoint
answer anything, which no document can describe.

tests/test_fuzz_api.py checks that it lists exactly the protocol routes the Flask app has, and
fuzzes the server against it.
"""

from __future__ import annotations

from typing import Any

from mockidp.core.fields import PKCE_METHODS
from mockidp.core.model import ENDPOINTS, Endpoint
from mockidp.core.settings import ISSUER_NAME
from mockidp.core.version import __version__
from mockidp.protocol.authz import (
    ACCEPTED_PROMPTS,
    RESPONSE_MODES,
    RESPONSE_TYPES,
)
from mockidp.protocol.grants import GRANTS
from mockidp.protocol.grants.authorization_code import PKCE_VALUE
from mockidp.protocol.register import METADATA
from mockidp.web.render import RECENT_COOKIE, SESSION_COOKIE

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
HTML = "text/html"
ROOT_METADATA_PATH = "/.well-known/oauth-authorization-server/{issuer}"

_STRING: dict[str, Any] = {"type": "string"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _text(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _strings(description: str) -> dict[str, Any]:
    """A parameter that may be repeated (sent once per value)."""
    return {"type": "array", "items": {"type": "string"}, "description": description}


# -- request parameters, by group --------------------------------------------------------------

CLIENT_AUTH: dict[str, Any] = {
    "client_id": _text("the client (RFC 6749 §2.2); with HTTP Basic it must match",
                       examples=["web-app"]),
    "client_secret": _text("client_secret_post (RFC 6749 §2.3.1); not together with Basic"),
    "client_assertion_type": _text(
        "RFC 7523 §2.2", enum=["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]),
    "client_assertion": _text("a signed JWT (client_secret_jwt, private_key_jwt; RFC 7523 §3)"),
}

AUTHORIZATION: dict[str, Any] = {
    "response_type": _text("the canonical spellings; the words may come in any order "
                           "(OAuth 2.0 Multiple Response Type Encoding Practices §5)",
                           enum=list(RESPONSE_TYPES)),
    "client_id": _text("the client (any id for an issuer that is not strict)",
                       examples=["web-app"]),
    "redirect_uri": _text("an absolute http(s) URL; a registered one for registered clients",
                          examples=["http://localhost:3000/callback"]),
    "scope": _text("space-separated scopes (RFC 6749 §3.3)", examples=["openid profile email"]),
    "state": _text("echoed back to the client (RFC 6749 §4.1.1)"),
    "nonce": _text("copied into the ID token (OIDC Core §3.1.2.1)"),
    "response_mode": _text("OAuth 2.0 Form Post / Multiple Response Types",
                           enum=list(RESPONSE_MODES)),
    "code_challenge": _text("RFC 7636 §4.2", pattern=PKCE_VALUE.pattern),
    "code_challenge_method": _text("RFC 7636 §4.3", enum=list(PKCE_METHODS)),
    "prompt": _text("space-separated: " + ", ".join(ACCEPTED_PROMPTS)),
    "login_hint": _text("log in as this user at once, without the login page",
                        examples=["alice"]),
    "max_age": {"type": "integer", "minimum": 0,
                "description": "seconds since the last login (OIDC Core §3.1.2.1)"},
    "acr_values": _text("the first value becomes the acr claim"),
    "claims": _text("OIDC Core §5.5 claims request, a JSON object",
                    examples=['{"userinfo": {"email": null}}']),
    "display": _text("accepted, no effect"),
    "ui_locales": _text("accepted, no effect"),
    "claims_locales": _text("accepted, no effect"),
    "id_token_hint": _text("accepted, no effect"),
    "audience": _strings("audience of the access token (RFC 8693 §2.1)"),
    "resource": _strings("resource indicator (RFC 8707 §2)"),
    "request_uri": _text("from the pushed authorization request endpoint (RFC 9126 §4)"),
    "request": _text("request objects (RFC 9101) are not supported: request_not_supported"),
}

TOKEN: dict[str, Any] = {
    "grant_type": _text("RFC 6749 §4 and extensions", enum=list(GRANTS)),
    "code": _text("authorization_code (RFC 6749 §4.1.3)"),
    "redirect_uri": _text("authorization_code: as sent to the authorization endpoint"),
    "code_verifier": _text("RFC 7636 §4.5", pattern=PKCE_VALUE.pattern),
    "refresh_token": _text("refresh_token (RFC 6749 §6)"),
    "scope": _text("space-separated scopes (RFC 6749 §3.3)"),
    "username": _text("password (RFC 6749 §4.3.2)", examples=["bob"]),
    "password": _text("password (RFC 6749 §4.3.2)", examples=["bob-password"]),
    "device_code": _text("device_code (RFC 8628 §3.4)"),
    "assertion": _text("jwt-bearer (RFC 7523 §2.1)"),
    "subject_token": _text("token-exchange (RFC 8693 §2.1)"),
    "subject_token_type": _text("token-exchange (RFC 8693 §3)"),
    "actor_token": _text("token-exchange (RFC 8693 §2.1)"),
    "actor_token_type": _text("token-exchange (RFC 8693 §3)"),
    "requested_token_type": _text("token-exchange (RFC 8693 §2.1)"),
    "audience": _strings("audience of the access token (RFC 8693 §2.1)"),
    "resource": _strings("resource indicator (RFC 8707 §2)"),
    **CLIENT_AUTH,
}

TOKEN_HINT: dict[str, Any] = {
    "token": _text("the token (RFC 7662 §2.1, RFC 7009 §2.1)"),
    "token_type_hint": _text("a hint only", examples=["access_token", "refresh_token"]),
    **CLIENT_AUTH,
}

LOGIN: dict[str, Any] = {
    "interaction": _text("the pending authorization request the login page shows"),
    "action": _text("approve or deny", enum=["approve", "deny"]),
    "username": _text("log in as this user", examples=["alice"]),
    "pick": _text("a one-click user button: the username"),
    "claims": _text("claims of this login, a JSON object", examples=['{"role": "admin"}']),
}

CONSENT: dict[str, Any] = {
    "interaction": _text("the pending authorization request the consent page shows"),
    "action": _text("allow or deny", enum=["allow", "deny"]),
}

END_SESSION: dict[str, Any] = {
    "id_token_hint": _text("an ID token of this issuer (expired ones too)"),
    "post_logout_redirect_uri": _text("where to go afterwards; registered, for registered "
                                      "clients that list some",
                                      examples=["http://localhost:3000/"]),
    "state": _text("echoed to post_logout_redirect_uri"),
    "client_id": _text("the client, when there is no id_token_hint"),
}

DEVICE_AUTHORIZATION: dict[str, Any] = {
    "scope": _text("space-separated scopes"),
    "audience": _strings("audience of the access token"),
    "resource": _strings("resource indicator (RFC 8707 §2)"),
    **CLIENT_AUTH,
}

DEVICE_PAGE: dict[str, Any] = {
    "user_code": _text("as shown to the user; case and dashes do not matter"),
    "step": _text("code: check the user code; login: answer", enum=["code", "login"]),
    "action": _text("approve or deny", enum=["approve", "deny"]),
    "username": _text("approve as this user", examples=["alice"]),
    "claims": _text("claims of this login, a JSON object"),
}

USERINFO_FORM: dict[str, Any] = {
    "access_token": _text("RFC 6750 §2.2 (not together with the Authorization header)"),
}

CLIENT_METADATA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 7591 §2 client metadata; other members are ignored, null is absent",
    "properties": {f.metadata: f.metadata_schema() for f in METADATA if f.metadata},
}

# -- answers ------------------------------------------------------------------------------------

_URL = {"type": "string", "minLength": 1}
SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"],
              "description": "RFC 6749 §5.2: error codes of RFC 6749, 6750, 7009, 7591, 8628, "
                             "9126, 9449, or not_found (404) from the HTTP layer",
              "properties": {"error": {"type": "string", "minLength": 1},
                             "error_description": _STRING, "error_uri": _STRING}},
    "ProviderMetadata": {
        "type": "object",
        "required": ["issuer", "authorization_endpoint", "token_endpoint", "jwks_uri",
                     "response_types_supported", "grant_types_supported"],
        "description": "OpenID Connect Discovery 1.0 §3 or RFC 8414 §2 metadata",
        "properties": {
            "issuer": _URL, "authorization_endpoint": _URL, "token_endpoint": _URL,
            "userinfo_endpoint": _URL, "jwks_uri": _URL, "registration_endpoint": _URL,
            "response_types_supported": {"type": "array", "items": _STRING},
            "grant_types_supported": {"type": "array", "items": _STRING},
            "subject_types_supported": {"type": "array", "items": _STRING},
            "id_token_signing_alg_values_supported": {"type": "array", "items": _STRING},
        }},
    "Jwks": {"type": "object", "required": ["keys"], "description": "RFC 7517 §5",
             "properties": {"keys": {"type": "array", "items": {
                 "type": "object", "required": ["kty", "kid"],
                 "properties": {"kty": _STRING, "kid": _STRING, "alg": _STRING,
                                "use": _STRING}}}}},
    "TokenResponse": {
        "type": "object", "required": ["access_token", "token_type"],
        "description": "RFC 6749 §5.1 (RFC 8693 §2.2.1 adds issued_token_type)",
        "properties": {"access_token": _STRING, "token_type": _STRING,
                       "expires_in": {"type": "integer"}, "refresh_token": _STRING,
                       "scope": _STRING, "id_token": _STRING, "issued_token_type": _STRING}},
    "Userinfo": {"type": "object", "required": ["sub"], "description": "OIDC Core §5.3.2",
                 "properties": {"sub": {"type": ["string", "null"]}}},
    "Introspection": {"type": "object", "required": ["active"], "description": "RFC 7662 §2.2",
                      "properties": {"active": {"type": "boolean"}, "token_type": _STRING,
                                     "client_id": _STRING, "scope": _STRING}},
    "Revoked": {"type": "object", "description": "RFC 7009 §2.2: an empty object, also for "
                                                 "an unknown token"},
    "PushedAuthorization": {
        "type": "object", "required": ["request_uri", "expires_in"],
        "description": "RFC 9126 §2.2",
        "properties": {"request_uri": _STRING, "expires_in": {"type": "integer"}}},
    "DeviceAuthorization": {
        "type": "object",
        "required": ["device_code", "user_code", "verification_uri", "expires_in"],
        "description": "RFC 8628 §3.2",
        "properties": {"device_code": _STRING, "user_code": _STRING,
                       "verification_uri": _STRING, "verification_uri_complete": _STRING,
                       "expires_in": {"type": "integer"}, "interval": {"type": "integer"}}},
    "ClientMetadata": CLIENT_METADATA,
    "ClientInformation": {
        "type": "object", "required": ["client_id"],
        "description": "RFC 7591 §3.2.1: the registered metadata with its defaults",
        "properties": {"client_id": _STRING, "client_secret": _STRING,
                       "client_id_issued_at": {"type": "integer"},
                       "client_secret_expires_at": {"type": "integer"},
                       "redirect_uris": {"type": "array", "items": _STRING},
                       "grant_types": {"type": "array", "items": _STRING},
                       "response_types": {"type": "array", "items": _STRING},
                       "token_endpoint_auth_method": _STRING}},
    "Page": {"type": "string", "description": "an HTML page for the person in the browser"},
}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(schema)}}}


def _page(description: str) -> dict[str, Any]:
    return {"description": description, "content": {HTML: {"schema": _ref("Page")}}}


def _redirect(description: str) -> dict[str, Any]:
    return {"description": description, "headers": {"Location": {
        "required": True, "schema": {"type": "string"}, "description": "where the browser goes"}}}


def _http_errors(method: str, browser: bool) -> dict[str, Any]:
    """What every protocol route may answer: a bad request, no such issuer (or path), wrong
    method and (for a body) too large.  Browser-facing endpoints show a bad request as a page;
    their 404, 405 and 413 are the JSON form or a page (the HTTP layer's own answers)."""

    def either(description: str) -> dict[str, Any]:
        content = {JSON: {"schema": _ref("Error")}}
        if browser:
            content[HTML] = {"schema": _ref("Page")}
        return {"description": description, "content": content}

    errors: dict[str, Any] = {
        "400": (_page("Invalid request, shown to the person (never redirected)") if browser
                else _json("Error", "Invalid request (RFC 6749 §5.2)")),
        "404": either("No such issuer (a bad or reserved name)"),
        "405": {**either("Method not allowed"), "headers": {"Allow": {
            "required": True, "schema": {"type": "string"},
            "description": "the methods this path allows"}}},
    }
    if method == "post":
        from mockidp.http.wire import MAX_BODY_BYTES

        errors["413"] = either(f"Body larger than {MAX_BODY_BYTES} bytes")
    return errors


def _unauthorized(description: str) -> dict[str, Any]:
    answer = _json("Error", description)
    answer["headers"] = {
        "WWW-Authenticate": {"schema": {"type": "string"},
                             "description": "the challenge, when there is one"},
        "DPoP-Nonce": {"schema": {"type": "string"},
                       "description": "the nonce to put in the next DPoP proof (RFC 9449 §8)"},
    }
    return answer


def _form(properties: dict[str, Any], required: tuple[str, ...] = (),
          body_required: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    encoding = {name: {"style": "form", "explode": True} for name, prop in properties.items()
                if prop.get("type") == "array"}
    content: dict[str, Any] = {"schema": schema}
    if encoding:
        content["encoding"] = encoding
    return {"required": body_required, "content": {FORM: content},
            "description": "application/x-www-form-urlencoded UTF-8 (RFC 6749 §3.2, "
                           "Appendix B); another content type is invalid_request"}


def _query(properties: dict[str, Any]) -> list[dict[str, Any]]:
    """Optional query parameters (the endpoint decides what is missing)."""
    params = []
    for name, schema in properties.items():
        param: dict[str, Any] = {"name": name, "in": "query", "required": False,
                                 "schema": schema}
        if schema.get("type") == "array":
            param.update(style="form", explode=True)
        params.append(param)
    return params


ISSUER_PARAM: dict[str, Any] = {
    "name": "issuer", "in": "path", "required": True,
    "description": "the issuer name; any valid name is created on first use, others and "
                   "reserved names answer 404",
    "schema": {"type": "string", "pattern": ISSUER_NAME.pattern, "examples": ["default"]},
}
DPOP_HEADER: dict[str, Any] = {
    "name": "DPoP", "in": "header", "required": False, "schema": {"type": "string"},
    "description": "a DPoP proof JWT (RFC 9449 §4)",
}
SESSION_COOKIE_PARAM: dict[str, Any] = {
    "name": SESSION_COOKIE, "in": "cookie", "required": False, "schema": {"type": "string"},
    "description": "the login session of this browser",
}
RECENT_COOKIE_PARAM: dict[str, Any] = {
    "name": RECENT_COOKIE, "in": "cookie", "required": False, "schema": {"type": "string"},
    "description": "the usernames this browser logged in as lately",
}
CLIENT_SECURITY: list[dict[str, list[str]]] = [{}, {"clientBasic": []}]
TOKEN_SECURITY: list[dict[str, list[str]]] = [{}, {"bearerToken": []}, {"dpopToken": []}]


def _operation(endpoint: Endpoint, method: str) -> dict[str, Any]:
    """One documented operation of a protocol endpoint."""
    name = endpoint.name
    post = method == "post"
    after = "303" if post else "302"
    params: list[dict[str, Any]] = [ISSUER_PARAM]
    body: dict[str, Any] | None = None
    security: list[dict[str, list[str]]] = [{}]
    responses: dict[str, Any]
    if name == "discovery":
        summary = "OpenID Connect Discovery 1.0 §4 provider metadata"
        responses = {"200": _json("ProviderMetadata", "The provider metadata")}
    elif name == "oauth_metadata":
        summary = "RFC 8414 §3 authorization server metadata"
        responses = {"200": _json("ProviderMetadata", "The authorization server metadata")}
    elif name == "jwks":
        summary = "The issuer's public keys (RFC 7517 §5)"
        responses = {"200": {"description": "The JWK Set",
                             "content": {"application/jwk-set+json": {"schema": _ref("Jwks")}}}}
    elif name == "authorize":
        summary = ("The authorization endpoint (RFC 6749 §4.1.1, §4.2.1; OIDC Core §3.1.2, "
                   "§3.2.2, §3.3.2)")
        if post:
            body = _form(AUTHORIZATION, body_required=False)
        else:
            params = [*params, *_query(AUTHORIZATION)]
        params = [*params, SESSION_COOKIE_PARAM, RECENT_COOKIE_PARAM]
        responses = {
            "200": _page("The login page, the consent page, or a form_post response"),
            after: _redirect("The authorization response (code, tokens, or an error) to the "
                             "client's redirect URI"),
        }
    elif name == "par":
        summary = "Pushed authorization request (RFC 9126 §2)"
        body = _form({**AUTHORIZATION, **CLIENT_AUTH})
        security = CLIENT_SECURITY
        responses = {"201": _json("PushedAuthorization", "The request_uri to authorize with"),
                     "401": _unauthorized("Client authentication failed (invalid_client)")}
    elif name == "login":
        summary = "The login page's answer"
        body = _form(LOGIN)
        params = [*params, RECENT_COOKIE_PARAM]
        responses = {
            "200": _page("The consent page, or a form_post response"),
            after: _redirect("The authorization response to the client's redirect URI"),
        }
    elif name == "consent":
        summary = "The consent page's answer"
        body = _form(CONSENT)
        responses = {
            "200": _page("A form_post response"),
            after: _redirect("The authorization response to the client's redirect URI"),
        }
    elif name == "token":
        summary = "The token endpoint (RFC 6749 §3.2)"
        body = _form(TOKEN, required=("grant_type",))
        params = [*params, DPOP_HEADER]
        security = CLIENT_SECURITY
        responses = {"200": _json("TokenResponse", "Tokens (RFC 6749 §5.1)"),
                     "401": _unauthorized("Client authentication failed (invalid_client) or "
                                          "a DPoP nonce is needed")}
    elif name == "userinfo":
        summary = "The UserInfo endpoint (OIDC Core §5.3); the token as in RFC 6750 §2"
        if post:
            body = _form(USERINFO_FORM, body_required=False)
        params = [*params, DPOP_HEADER]
        security = TOKEN_SECURITY
        responses = {"200": _json("Userinfo", "The claims of the token's subject"),
                     "401": _unauthorized("Missing, invalid, expired or revoked access token "
                                          "(RFC 6750 §3.1)")}
    elif name == "introspect":
        summary = "Token introspection (RFC 7662)"
        body = _form(TOKEN_HINT, required=("token",))
        security = CLIENT_SECURITY
        responses = {"200": _json("Introspection", "Whether the token is active, and its claims"),
                     "401": _unauthorized("Client authentication failed (invalid_client)")}
    elif name == "revoke":
        summary = "Token revocation (RFC 7009)"
        body = _form(TOKEN_HINT, required=("token",))
        security = CLIENT_SECURITY
        responses = {"200": _json("Revoked", "Revoked (or unknown, which is not an error)"),
                     "401": _unauthorized("Client authentication failed (invalid_client)")}
    elif name == "endsession":
        summary = "RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2)"
        if post:
            body = _form(END_SESSION, body_required=False)
        else:
            params = [*params, *_query(END_SESSION)]
        params = [*params, SESSION_COOKIE_PARAM]
        responses = {
            "200": _page("The signed-out page (it loads the front-channel logout URLs)"),
            after: _redirect("To post_logout_redirect_uri"),
        }
    elif name == "device_authorization":
        summary = "Device authorization request (RFC 8628 §3.1)"
        body = _form(DEVICE_AUTHORIZATION)
        security = CLIENT_SECURITY
        responses = {"200": _json("DeviceAuthorization", "The device and user codes"),
                     "401": _unauthorized("Client authentication failed (invalid_client)")}
    elif name == "device":
        summary = "The device verification page (RFC 8628 §3.3)"
        if post:
            body = _form(DEVICE_PAGE, body_required=False)
        else:
            params = [*params, *_query({"user_code": DEVICE_PAGE["user_code"]})]
        responses = {"200": _page("The verification page at its step")}
    elif name == "register":
        summary = "Dynamic client registration (RFC 7591 §3)"
        body = {"required": True, "content": {JSON: {
            "schema": _ref("ClientMetadata"),
            "example": {"redirect_uris": ["http://localhost:3000/callback"],
                        "client_name": "my app"}}}}
        responses = {"201": _json("ClientInformation", "The registered client (RFC 7591 "
                                                       "§3.2.1)")}
    else:  # pragma: no cover - every endpoint is described above
        raise KeyError(f"no description for endpoint {name!r}")
    responses = {**_http_errors(method, endpoint.browser), **responses}
    operation: dict[str, Any] = {
        "operationId": f"{name}_{method}",
        "summary": summary,
        "tags": ["browser" if endpoint.browser else "api"],
        "parameters": params,
        "responses": dict(sorted(responses.items())),
        "security": security,
    }
    if body is not None:
        operation["requestBody"] = body
    return operation


def protocol_paths() -> dict[str, dict[str, Any]]:
    """OpenAPI ``paths``: every protocol endpoint, ``/{issuer}`` + its path."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths["/{issuer}" + endpoint.path] = {
            method.lower(): _operation(endpoint, method.lower()) for method in endpoint.methods
        }
        if endpoint.name == "oauth_metadata":  # RFC 8414 §3: well-known path before the issuer
            root = _operation(endpoint, "get")
            root["operationId"] = "oauth_metadata_root_get"
            root["summary"] += " (the well-known path inserted before the issuer)"
            paths[ROOT_METADATA_PATH] = {"get": root}
    return paths


def protocol_openapi_document() -> dict[str, Any]:
    """The whole OpenAPI document of the protocol endpoints."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mockidp protocol endpoints", "version": __version__,
            "description": "The OAuth 2.0 / OpenID Connect endpoints of every issuer, at "
                           "/{issuer}/... .  Without scripted rules the answers are those "
                           "documented here; a rule can make any endpoint answer any status, "
                           "body or content type, or a delay.",
        },
        "paths": protocol_paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "clientBasic": {"type": "http", "scheme": "basic",
                                "description": "client_secret_basic (RFC 6749 §2.3.1)"},
                "bearerToken": {"type": "http", "scheme": "bearer",
                                "description": "an access token (RFC 6750 §2.1)"},
                "dpopToken": {"type": "apiKey", "in": "header", "name": "Authorization",
                              "description": "'DPoP <access token>' with a DPoP proof "
                                             "header (RFC 9449 §7.1)"},
            },
        },
    }
