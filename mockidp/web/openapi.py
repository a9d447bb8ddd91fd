"""The OpenAPI 3.1 description of the control API, served at ``/_mockidp/openapi.json``.

tests/test_control_api.py checks that it lists exactly the routes the server has, with their
methods, and that every request example it carries is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mockidp.core.fields import (
    CLIENT_FIELDS,
    SIGNING_ALGS,
    USER_FIELDS,
    Field,
    schema_properties,
)
from mockidp.core.version import __version__
from mockidp.profiles.catalog import ENDPOINT_NAMES

_MATCHER = {"oneOf": [{"type": "string"},
                      {"type": "object", "required": ["regex"],
                       "properties": {"regex": {"type": "string"}},
                       "additionalProperties": False}]}
_EDIT = {"type": "object", "additionalProperties": False,
         "properties": {"set": {"type": "object"},
                        "delete": {"type": "array", "items": {"type": "string"}}}}
_ERROR = {"type": "object", "required": ["error"],
          "properties": {"error": {"type": "string"},
                         "error_description": {"type": "string"}}}
_TOKEN_ARGS: dict[str, Any] = {
    "sub": {"type": "string", "minLength": 1},
    "claims": {"type": "object"},
    "audience": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    "expires_in": {"type": "integer"},
    "issuer": {"type": "string"},
    "client_id": {"type": "string"},
    "scope": {"type": "string"},
    "alg": {"type": "string", "enum": list(SIGNING_ALGS)},
    "remove": {"type": "array", "items": {"type": "string"}},
}



def _record_in(fields: tuple[Field, ...]) -> dict[str, Any]:
    """The body that adds a user or client: its id, the table's fields, the issuer."""
    return {"type": "object", "required": ["id"], "additionalProperties": False,
            "properties": {"id": {"type": "string", "minLength": 1},
                           **schema_properties(fields), "issuer": {"type": "string"}}}


def _shown(fields: Iterable[Field]) -> dict[str, Any]:
    """Answer members of fields the control API shows (a secret as whether it is set)."""
    return {f.shown_as or f.name: {"type": "boolean"} if f.secret else f.schema()
            for f in fields if "control" in f.doors}


SCHEMAS: dict[str, Any] = {
    "Error": _ERROR,
    "NoArguments": {"type": "object", "description": "{}: the operation takes no arguments, "
                    "but a POST to the control API is JSON (no page of another site can send "
                    "one without a preflight)"},
    "Health": {"type": "object", "required": ["status"],
               "properties": {"status": {"const": "ok"},
                              "version": {"type": "string"}, "pid": {"type": "integer"},
                              "store": {"type": "object", "required": ["kind", "reachable"],
                                        "properties": {
                                            "kind": {"enum": ["memory", "redis"]},
                                            "reachable": {"type": "boolean"},
                                            "url": {"type": "string"},
                                            "listening": {"type": "boolean"},
                                            "error": {"type": "string"}}},
                              "issuers": {"type": "array", "items": {"type": "string"}}}},
    "UserIn": _record_in(USER_FIELDS),
    "User": {"type": "object", "properties": {
        "id": {"type": "string"}, "sub": {"type": "string"}, **_shown(USER_FIELDS)}},
    "ClientIn": _record_in(CLIENT_FIELDS),
    "Client": {"type": "object", "properties": {
        "id": {"type": "string"}, **_shown(f for f in CLIENT_FIELDS if f.secret)}},
    "Match": {"type": "object", "additionalProperties": False, "properties": {
        "issuer": {"type": "string"},
        "endpoint": {"type": "string", "enum": list(ENDPOINT_NAMES)},
        "client_id": _MATCHER, "grant_type": _MATCHER, "user": _MATCHER,
        "scope": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}},
                            _MATCHER["oneOf"][1]]},
        "params": {"type": "object", "additionalProperties": _MATCHER}}},
    "RuleIn": {
        "type": "object", "additionalProperties": False,
        "description": "match → effect, times. Match fields may also be given at the top "
                       "level. An error or fault cannot be combined with claims, bad_token "
                       "or skew.",
        "properties": {
            "id": {"type": "string"},
            "description": {"type": "string"},
            "match": {"$ref": "#/components/schemas/Match"},
            "claims": {"type": "object", "properties": {
                "set": {"type": "object"}, "delete": {"type": "array"},
                "access_token": _EDIT, "id_token": _EDIT, "userinfo": _EDIT}},
            "error": {"oneOf": [{"type": "string"}, {
                "type": "object", "required": ["error"], "additionalProperties": False,
                "properties": {"error": {"type": "string"}, "description": {"type": "string"},
                               "status": {"type": "integer", "minimum": 400,
                                          "maximum": 599}}}]},
            "fault": {"oneOf": [
                {"type": "string", "enum": ["invalid_json", "empty", "close"]},
                {"type": "integer", "minimum": 100, "maximum": 599},
                {"type": "object", "additionalProperties": False, "properties": {
                    "status": {"type": "integer", "minimum": 100, "maximum": 599},
                    "body": {"type": "string"}, "content_type": {"type": "string"},
                    "kind": {"type": "string", "enum": ["invalid_json", "empty", "close"]}}}]},
            "delay": {"oneOf": [{"type": "number", "minimum": 0, "maximum": 300}, {
                "type": "object", "additionalProperties": False,
                "properties": {"seconds": {"type": "number", "minimum": 0},
                               "jitter": {"type": "number", "minimum": 0}}}]},
            "bad_token": {"oneOf": [{"type": "string"}, {
                "type": "object", "required": ["kind"],
                "properties": {"kind": {"type": "string"},
                               "token": {"enum": ["access_token", "id_token"]}}}]},
            "skew": {"type": "number"},
            "times": {"oneOf": [{"enum": ["once", "always"]},
                                {"type": "integer", "minimum": 1}]},
            "expect": {"type": "boolean"},
            **{k: {} for k in ("issuer", "endpoint", "client_id", "grant_type", "scope",
                               "user", "params")},
        }},
    "Rule": {"type": "object", "properties": {
        "id": {"type": "string"}, "fired": {"type": "integer"}, "active": {"type": "boolean"},
        "reason": {"type": "string"}}},
    "ClockIn": {"type": "object", "additionalProperties": False, "properties": {
        "skew": {"type": "number"},
        "freeze": {"oneOf": [{"type": "number"}, {"type": "string"}, {"type": "boolean"}]},
        "advance": {"type": "number"}, "reset": {"type": "boolean"}}},
    "Clock": {"type": "object", "required": ["now", "offset", "frozen"], "properties": {
        "now": {"type": "number"}, "offset": {"type": "number"},
        "frozen": {"type": "boolean"}}},
    "Exchange": {"type": "object", "properties": {
        "seq": {"type": "integer"}, "time": {"type": "number"},
        "provider_time": {"type": "number"}, "issuer": {"type": "string"},
        "endpoint": {"type": "string"}, "method": {"type": "string"},
        "path": {"type": "string"}, "params": {"type": "object"},
        "client_id": {"type": ["string", "null"]}, "grant_type": {"type": ["string", "null"]},
        "user": {"type": ["string", "null"]}, "status": {"type": "integer"},
        "error": {"type": ["string", "null"]}, "tokens": {"type": "object"},
        "rules": {"type": "array", "items": {"type": "string"}},
        "headers": {"type": "object",
                    "description": "the JOSE header of each minted JWT in tokens"},
        "unverified": {"type": "array", "items": {"type": "string"},
                       "description": "request parameters (client_assertion, assertion) "
                                      "whose JWT was accepted with its signature unchecked: "
                                      "a permissive issuer has no secret or key of an "
                                      "unregistered client"}}},
    "MintIn": {"type": "object", "additionalProperties": False, "properties": {
        **_TOKEN_ARGS, "typ": {"type": "string"}, "skew": {"type": "number"}}},
    "MintBadIn": {"type": "object", "required": ["kind"], "additionalProperties": False,
                  "properties": {"kind": {"type": "string"}, **_TOKEN_ARGS}},
    "RotateIn": {"type": "object", "additionalProperties": False, "properties": {
        "issuer": {"type": "string"}, "alg": {"type": "string", "enum": list(SIGNING_ALGS)}}},
    "RetireIn": {"type": "object", "additionalProperties": False, "properties": {
        "issuer": {"type": "string"}, "kid": {"type": "string"}}},
    "DeviceApproveIn": {
        "type": "object", "additionalProperties": False,
        "description": "Approve a device authorization request (RFC 8628) as the verification "
                       "page would. Without user_code: the oldest request waiting, or, when none "
                       "waits, the next one made.",
        "properties": {"user_code": {"type": "string", "minLength": 1,
                                     "description": "as shown to the user; case and dashes "
                                                    "do not matter"},
                       "user": {"type": "string", "minLength": 1, "default": "alice"},
                       "claims": {"type": "object"},
                       "issuer": {"type": "string"}}},
    "DeviceDenyIn": {
        "type": "object", "additionalProperties": False,
        "description": "Deny a device authorization request: the client's next poll gets "
                       "access_denied. user_code as for approve.",
        "properties": {"user_code": {"type": "string", "minLength": 1},
                       "issuer": {"type": "string"}}},
    "DeviceAnswer": {"type": "object", "required": ["status", "applies_to"], "properties": {
        "status": {"enum": ["approved", "denied"]},
        "applies_to": {"enum": ["request", "next"]},
        "user_code": {"type": ["string", "null"]}, "client_id": {"type": ["string", "null"]},
        "scope": {"type": ["string", "null"]}, "user": {"type": ["string", "null"]}}},
    "Token": {"type": "object", "required": ["token"],
              "properties": {"token": {"type": "string"}, "kind": {"type": "string"}}},
    "InspectIn": {"type": "object", "required": ["token"], "additionalProperties": False,
                  "properties": {"token": {"type": "string", "description": "a JWT, or an "
                                           "opaque token of this provider"}}},
    "TokenReport": {
        "type": "object",
        "required": ["verdict", "summary", "format", "signature", "validity", "problems"],
        "description": "What the token debugger finds; malformed input is a verdict, never an "
                       "error. Times are {value (epoch seconds), iso, relative}.",
        "properties": {
            "verdict": {"enum": ["valid", "invalid", "malformed"]},
            "summary": {"type": "string"},
            "format": {"enum": ["jwt", "opaque", "refresh_token", "unknown"]},
            "kind": {"type": ["string", "null"]},
            "header": {"type": ["object", "null"]},
            "claims": {"type": ["object", "null"]},
            "signature": {"type": "object", "required": ["status"], "properties": {
                "status": {"enum": ["verified", "invalid", "unknown_kid", "unsigned",
                                    "not_applicable", "not_checked"]},
                "issuer": {"type": ["string", "null"]},
                "issuer_url": {"type": ["string", "null"]},
                "kid": {"type": ["string", "null"]}, "alg": {"type": ["string", "null"]},
                "detail": {"type": "string"}}},
            "iss": {"type": "object"},
            "validity": {"type": "object", "required": ["status"], "properties": {
                "status": {"enum": ["valid", "expired", "not_yet_valid", "issued_in_future",
                                    "no_expiry", "unknown"]},
                "now": {"type": "object"}, "exp": {"type": ["object", "null"]},
                "nbf": {"type": ["object", "null"]}, "iat": {"type": ["object", "null"]},
                "detail": {"type": "string"}}},
            "problems": {"type": "array", "items": {"type": "string"}},
            "notes": {"type": "array", "items": {"type": "string"}}}},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(summary: str, responses: dict[str, Any], body: str | None = None,
        example: dict[str, Any] | None = None, params: list[dict[str, Any]] | None = None,
        *, reads_input: bool = True, protected: bool = True, issuer: bool = False
        ) -> dict[str, Any]:
    """One operation.  ``reads_input``: it can answer 400; ``protected``: it needs the control
    token when one is set (401); ``issuer``: a bad issuer name answers 404."""
    documented = dict(responses)
    if reads_input:
        documented["400"] = _json(_ref("Error"), "Invalid request: the description names the "
                                  "field")
    if protected:
        documented["401"] = _json(_ref("Error"), "Missing or wrong control token")
        documented["403"] = _json(_ref("Error"), "Without a control token: a Host that is not "
                                  "loopback, the public URL's or an allowed host, or a "
                                  "cross-origin change (access_denied)")
    if issuer:
        documented.setdefault("404", _json(_ref("Error"), "No such issuer (bad name)"))
    op: dict[str, Any] = {"summary": summary, "responses": documented}
    if not protected:
        op["security"] = [{}]
    if body is not None:
        content: dict[str, Any] = {"schema": _ref(body)}
        if example is not None:
            content["example"] = example
        op["requestBody"] = {"required": True, "content": {"application/json": content}}
    if params:
        op["parameters"] = params
    return op


_ISSUER_Q = {"name": "issuer", "in": "query", "schema": {"type": "string"},
             "description": "issuer name (default: default)"}


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    ok_list = {"200": _json({"type": "object"})}
    no_content = {"204": {"description": "Done"}}
    not_found = {"404": _json(_ref("Error"), "No such item")}
    paths: dict[str, Any] = {
        "/_mockidp/": {"get": _op("The control API's routes and where they are described",
                                  ok_list, reads_input=False)},
        "/_mockidp/health": {"get": _op("Is the provider up", {
            "200": _json(_ref("Health")),
            "503": _json(_ref("Error"), "The shared store is unreachable: "
                         "temporarily_unavailable, with the Health fields (status unavailable)"),
        }, reads_input=False, protected=False)},
        "/_mockidp/reset": {"post": _op("Back to the config baseline (keys stay)", ok_list,
                                        "NoArguments", {})},
        "/_mockidp/openapi.json": {"get": _op("This document", ok_list, reads_input=False)},
        "/_mockidp/protocol-openapi.json": {"get": _op(
            "The OpenAPI description of the protocol endpoints (/{issuer}/...)", ok_list,
            reads_input=False)},
        "/_mockidp/users": {
            "get": _op("List users", ok_list, params=[_ISSUER_Q], issuer=True),
            "post": _op("Add or replace a user", {"201": _json(_ref("User"))}, "UserIn",
                        {"id": "dora", "claims": {"role": "tester"}}, issuer=True),
        },
        "/_mockidp/users/{user_id}": {"delete": _op(
            "Remove a user", {**no_content, **not_found},
            params=[_path_param("user_id"), _ISSUER_Q], issuer=True)},
        "/_mockidp/clients": {
            "get": _op("List clients", ok_list, params=[_ISSUER_Q], issuer=True),
            "post": _op("Add or replace a client", {"201": _json(_ref("Client"))}, "ClientIn",
                        {"id": "my-app", "secret": "s3cret",
                         "redirect_uris": ["http://localhost:8000/cb"]}, issuer=True),
        },
        "/_mockidp/clients/{client_id}": {"delete": _op(
            "Remove a client", {**no_content, **not_found},
            params=[_path_param("client_id"), _ISSUER_Q], issuer=True)},
        "/_mockidp/rules": {
            "get": _op("List rules with their fired counts", ok_list, reads_input=False),
            "post": _op("Add a rule", {"201": _json(_ref("Rule"))}, "RuleIn",
                        {"match": {"endpoint": "token", "grant_type": "refresh_token"},
                         "error": {"error": "invalid_grant", "description": "scripted"},
                         "times": "once"}),
            "delete": _op("Remove every rule", no_content, reads_input=False),
        },
        "/_mockidp/rules/unfired": {"get": _op(
            "Rules expected to fire that did not, with the reason", ok_list,
            reads_input=False)},
        "/_mockidp/rules/{rule_id}": {
            "get": _op("One rule", {"200": _json(_ref("Rule")), **not_found},
                       params=[_path_param("rule_id")]),
            "delete": _op("Remove one rule", {**no_content, **not_found},
                          params=[_path_param("rule_id")]),
        },
        "/_mockidp/clock": {
            "get": _op("The provider clock", {"200": _json(_ref("Clock"))}, reads_input=False),
            "post": _op("Skew, freeze, advance or reset the provider clock",
                        {"200": _json(_ref("Clock"))}, "ClockIn", {"skew": 120}),
        },
        "/_mockidp/journal": {
            "get": _op("Recorded exchanges, oldest first", ok_list, params=[
                {"name": n, "in": "query", "schema": {"type": "string"}}
                for n in ("issuer", "endpoint", "method", "path", "client_id", "grant_type",
                          "user", "error")
            ] + [{"name": "status", "in": "query", "schema": {"type": "integer"}},
                 {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0}}]),
            "delete": _op("Clear the journal", no_content, reads_input=False),
        },
        "/_mockidp/keys": {"get": _op("Published keys: kid, alg, kty, active", ok_list,
                                      params=[_ISSUER_Q], issuer=True)},
        "/_mockidp/keys/rotate": {"post": _op(
            "New active keys; the old ones stay published until retired", ok_list,
            "RotateIn", {"alg": "RS256"}, issuer=True)},
        "/_mockidp/keys/retire": {"post": _op(
            "Stop publishing rotated-out keys (one kid, or all)", ok_list, "RetireIn", {},
            issuer=True)},
        "/_mockidp/device/approve": {"post": _op(
            "Approve a device authorization request (RFC 8628)",
            {"200": _json(_ref("DeviceAnswer"))}, "DeviceApproveIn",
            {"user": "alice", "claims": {"role": "admin"}}, issuer=True)},
        "/_mockidp/device/deny": {"post": _op(
            "Deny a device authorization request (RFC 8628)",
            {"200": _json(_ref("DeviceAnswer"))}, "DeviceDenyIn", {"issuer": "default"},
            issuer=True)},
        "/_mockidp/mint": {"post": _op("Sign a token directly", {"200": _json(_ref("Token"))},
                                       "MintIn", {"sub": "alice", "claims": {"role": "admin"},
                                                  "audience": "my-api"}, issuer=True)},
        "/_mockidp/bad-tokens": {"get": _op("The bad-token catalogue", ok_list,
                                            reads_input=False)},
        "/_mockidp/mint-bad": {"post": _op("A deliberately invalid token",
                                           {"200": _json(_ref("Token"))}, "MintBadIn",
                                           {"kind": "expired", "sub": "alice"}, issuer=True)},
        "/_mockidp/inspect": {"post": _op(
            "The token debugger: header, claims, signature (issuer, kid, alg) and validity on "
            "the provider clock", {"200": _json(_ref("TokenReport"))}, "InspectIn",
            {"token": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."})},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "mockidp control API", "version": __version__,
                 "description": "Script the mock identity provider at run time: users, "
                                "clients, rules, clock, journal, tokens."},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"controlToken": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"controlToken": []}],
    }
