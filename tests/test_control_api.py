"""The HTTP control API under ``/_mockidp/``, as a test harness or a script meets it.

Everything goes over real HTTP to a running `MockIdP`; what the control API sets up is then
checked through the protocol endpoints (token, userinfo) or the journal, never through the
provider's internals.  The OpenAPI document is checked against the routes the server actually
registers, its request examples are replayed, and a few answers are validated against its
schemas by a small hand-written validator (no new dependencies).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from mockidp import MockIdP
from mockidp.core.errors import MockIdPError
from mockidp.web import create_app

PREFIX = "/_mockidp"
TIMEOUT = 10.0
IGNORED_METHODS = {"HEAD", "OPTIONS"}
JSON = {"Content-Type": "application/json"}


# -- helpers ------------------------------------------------------------------------------------

def ctl(idp: MockIdP, method: str, path: str, **kwargs: Any) -> requests.Response:
    """One control API request (``path`` below ``/_mockidp``)."""
    kwargs.setdefault("timeout", TIMEOUT)
    return requests.request(method, f"{idp.url}{PREFIX}{path}", **kwargs)


def token_request(idp: MockIdP, data: dict[str, str], auth: tuple[str, str] | None = None,
                  issuer: str = "default") -> requests.Response:
    return requests.post(f"{idp.issuer_url(issuer)}/token", data=data, auth=auth,
                         timeout=TIMEOUT)


def client_credentials(idp: MockIdP, client_id: str = "svc", secret: str = "svc-secret",
                       issuer: str = "default", **extra: str) -> requests.Response:
    return token_request(idp, {"grant_type": "client_credentials", **extra},
                         (client_id, secret), issuer)


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def verified_claims(idp: MockIdP, token: str, issuer: str = "default") -> dict[str, Any]:
    """The token's claims, its signature checked against the issuer's published JWKS."""
    jwks = requests.get(f"{idp.issuer_url(issuer)}/jwks", timeout=TIMEOUT).json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(jwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == kid)
    return jwt.decode(token, key.key, algorithms=[key.algorithm_name],
                      options={"verify_aud": False})


def assert_invalid_request(response: requests.Response, *names: str) -> str:
    """A 400 ``invalid_request`` whose description names every one of ``names``."""
    assert response.status_code == 400, (response.status_code, response.text)
    body = response.json()
    assert body["error"] == "invalid_request", body
    description: str = body["error_description"]
    for name in names:
        assert name in description, (name, description)
    return description


@pytest.fixture
def idp() -> Iterator[MockIdP]:
    """A fresh provider with no config, serving on a free port."""
    with MockIdP() as running:
        yield running


# -- a small JSON Schema validator (the subset the document uses) --------------------------------

_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref: str = schema["$ref"]
        assert ref.startswith("#/"), ref
        node: Any = doc
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


def schema_errors(doc: dict[str, Any], schema: dict[str, Any], value: Any,
                  where: str = "$") -> list[str]:
    """Why ``value`` does not fit ``schema`` (empty when it does)."""
    schema = resolve(doc, schema)
    errors: list[str] = []
    if "oneOf" in schema:
        fits = [s for s in schema["oneOf"] if not schema_errors(doc, s, value, where)]
        if len(fits) != 1:
            errors.append(f"{where}: fits {len(fits)} of the oneOf alternatives: {value!r}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: expected {schema['const']!r}, got {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: expected one of {schema['enum']}, got {value!r}")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](value) for t in types):
            return [*errors, f"{where}: expected {'/'.join(types)}, got {value!r}"]
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        errors.append(f"{where}: shorter than {schema['minLength']}")
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: above {schema['maximum']}")
    if isinstance(value, dict):
        properties: dict[str, Any] = schema.get("properties", {})
        errors += [f"{where}: missing required {key!r}" for key in schema.get("required", [])
                   if key not in value]
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(doc, properties[key], item, f"{where}.{key}")
            elif extra is False:
                errors.append(f"{where}: unexpected property {key!r}")
            elif isinstance(extra, dict):
                errors += schema_errors(doc, extra, item, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += schema_errors(doc, schema["items"], item, f"{where}[{i}]")
    return errors


def test_the_validator_itself_rejects_what_it_should() -> None:
    doc: dict[str, Any] = {"components": {"schemas": {"T": {
        "type": "object", "required": ["a"], "additionalProperties": False,
        "properties": {"a": {"type": "integer", "minimum": 1},
                       "b": {"type": ["string", "null"]}}}}}}
    ref = {"$ref": "#/components/schemas/T"}
    assert schema_errors(doc, ref, {"a": 1, "b": None}) == []
    assert schema_errors(doc, ref, {"a": True})  # a bool is not an integer
    assert schema_errors(doc, ref, {"a": 0})
    assert schema_errors(doc, ref, {"b": "x"})
    assert schema_errors(doc, ref, {"a": 1, "c": 2})
    assert schema_errors(doc, ref, [])


# -- the OpenAPI document matches the server ------------------------------------------------------

def server_routes(idp: MockIdP) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every route the Flask app registers under /_mockidp."""
    routes = set()
    for rule in create_app(idp).url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - IGNORED_METHODS:
            routes.add((path, method.lower()))
    return routes


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in ("get", "put", "post", "delete", "patch"):
                yield path, method, op


def fill_path(path: str, value: str = "no-such-thing") -> str:
    return re.sub(r"\{[^}]+\}", value, path)


@pytest.fixture(scope="module")
def shared() -> Iterator[MockIdP]:
    """One provider for the read-only and reset-between-cases checks of this module."""
    with MockIdP() as running:
        yield running


@pytest.fixture(scope="module")
def openapi(shared: MockIdP) -> dict[str, Any]:
    response = ctl(shared, "GET", "/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    doc: dict[str, Any] = response.json()
    return doc


def test_openapi_lists_exactly_the_routes_the_server_has(
    shared: MockIdP, openapi: dict[str, Any]
) -> None:
    assert openapi["openapi"].startswith("3.")
    documented = {(path, method) for path, method, _ in operations(openapi)}
    served = server_routes(shared)
    assert served, "no /_mockidp routes registered"
    assert documented - served == set(), "documented but not served"
    assert served - documented == set(), "served but not documented"


def test_openapi_path_parameters_match_the_placeholders(openapi: dict[str, Any]) -> None:
    for path, method, op in operations(openapi):
        placeholders = set(re.findall(r"\{([^}]+)\}", path))
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == placeholders, (method, path)
        assert all(p.get("required") is True for p in op.get("parameters", [])
                   if p["in"] == "path"), (method, path)


def test_every_schema_reference_resolves(openapi: dict[str, Any]) -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(openapi)
    assert refs
    for ref in refs:
        assert resolve(openapi, {"$ref": ref}), ref


def example_operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, method, op in operations(doc):
        content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        if "example" in content:
            found.append((path, method, op))
    return found


def test_every_request_example_is_accepted(idp: MockIdP, openapi: dict[str, Any]) -> None:
    with_examples = example_operations(openapi)
    assert {path for path, _, _ in with_examples} >= {
        f"{PREFIX}/users", f"{PREFIX}/clients", f"{PREFIX}/rules", f"{PREFIX}/mint",
    }
    for path, method, op in with_examples:
        content = op["requestBody"]["content"]["application/json"]
        example = content["example"]
        assert schema_errors(openapi, content["schema"], example) == [], (path, example)
        response = requests.request(method.upper(), idp.url + fill_path(path), json=example,
                                    timeout=TIMEOUT)
        ok = sorted(int(code) for code in op["responses"] if code.startswith("2"))
        assert response.status_code in ok, (method, path, response.status_code, response.text)
        documented = op["responses"][str(response.status_code)]
        schema = documented.get("content", {}).get("application/json", {}).get("schema")
        if schema is not None:
            assert schema_errors(openapi, schema, response.json()) == [], (path, response.text)


def test_documented_statuses_are_plausible(openapi: dict[str, Any]) -> None:
    for path, method, op in operations(openapi):
        codes = [int(code) for code in op["responses"]]
        where = f"{method.upper()} {path}"
        assert all(100 <= code <= 599 for code in codes), where
        success = [code for code in codes if 200 <= code < 300]
        assert len(success) == 1, (where, codes)
        if method == "delete":
            assert success == [204], where
        elif method == "post" and path in (f"{PREFIX}/users", f"{PREFIX}/clients",
                                           f"{PREFIX}/rules"):
            assert success == [201], where
        else:
            assert success == [200], where
        # operations aimed at one issuer answer 404 for a bad issuer name (the journal's
        # `issuer` is only a filter)
        takes_issuer = path.endswith(("/users", "/clients", "/mint", "/mint-bad")) or (
            "/users/" in path or "/clients/" in path or "/keys" in path or "/device/" in path)
        assert (404 in codes) == ("{" in path or takes_issuer), (where, codes)
        for code in codes:
            response = op["responses"][str(code)]
            assert response.get("description"), (where, code)
            content = response.get("content", {})
            if code == 204:
                assert not content, where
            else:
                assert "application/json" in content, (where, code)
            if code >= 400:
                schema = content["application/json"]["schema"]
                assert resolve(openapi, schema) == openapi["components"]["schemas"]["Error"]


def test_documented_401_is_where_the_server_asks_for_the_token(
    openapi: dict[str, Any]
) -> None:
    with MockIdP(control_token="s3cret") as guarded:
        mismatches = []
        for path, method, op in operations(openapi):
            response = requests.request(method.upper(), guarded.url + fill_path(path),
                                        timeout=TIMEOUT)
            asks = response.status_code == 401
            if asks != ("401" in op["responses"]):
                mismatches.append(f"{method.upper()} {path}: answered {response.status_code}, "
                                  f"documents {sorted(op['responses'])}")
        assert mismatches == []


def test_400_is_documented_only_where_input_is_read(openapi: dict[str, Any]) -> None:
    """An operation that takes neither a body nor parameters cannot answer 400."""
    implausible = [
        f"{method.upper()} {path}" for path, method, op in operations(openapi)
        if "400" in op["responses"] and "requestBody" not in op and not op.get("parameters")
    ]
    assert implausible == []


def test_answers_fit_the_documented_schemas(idp: MockIdP, openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]

    def fits(name: str, value: Any) -> None:
        assert schema_errors(openapi, schemas[name], value) == [], (name, value)

    health = ctl(idp, "GET", "/health")
    assert health.status_code == 200
    fits("Health", health.json())
    assert "default" in health.json()["issuers"]

    user = ctl(idp, "POST", "/users", json={"id": "dora", "claims": {"role": "tester"},
                                            "password": "pw"})
    fits("User", user.json())
    assert user.json()["has_password"] is True

    client = ctl(idp, "POST", "/clients", json={"id": "svc", "secret": "svc-secret"})
    fits("Client", client.json())
    assert client.json()["confidential"] is True

    rule = ctl(idp, "POST", "/rules", json={"endpoint": "token", "claims": {"set": {"x": 1}}})
    fits("Rule", rule.json())
    clock = ctl(idp, "GET", "/clock")
    fits("Clock", clock.json())
    assert client_credentials(idp).status_code == 200
    journal = ctl(idp, "GET", "/journal").json()
    assert len(journal["calls"]) == 1
    fits("Exchange", journal["calls"][0])
    for call in journal["calls"]:
        for key in ("seq", "endpoint", "method", "path", "params", "status", "tokens"):
            assert key in call, key
    fits("Token", ctl(idp, "POST", "/mint", json={"sub": "dora"}).json())
    fits("Token", ctl(idp, "POST", "/mint-bad", json={"kind": "expired"}).json())
    fits("Error", ctl(idp, "POST", "/mint", json={"nope": 1}).json())
    fits("Error", ctl(idp, "DELETE", "/users/nobody").json())


# -- users and clients ---------------------------------------------------------------------------

def test_user_added_over_http_is_used_by_the_token_endpoint(idp: MockIdP) -> None:
    added = ctl(idp, "POST", "/users", json={"id": "zed", "password": "zed-pw",
                                             "claims": {"team": "red", "name": "Zed"}})
    assert added.status_code == 201, added.text
    assert added.json()["id"] == "zed"
    assert added.json()["claims"] == {"team": "red", "name": "Zed"}

    wrong = token_request(idp, {"grant_type": "password", "username": "zed",
                                "password": "nope"}, ("app", "app-secret"))
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    right = token_request(idp, {"grant_type": "password", "username": "zed",
                                "password": "zed-pw", "scope": "openid profile"},
                          ("app", "app-secret"))
    assert right.status_code == 200, right.text
    claims = verified_claims(idp, right.json()["access_token"])
    assert claims["sub"] == "zed"
    assert claims["team"] == "red"
    assert claims_of(right.json()["id_token"])["name"] == "Zed"

    listed = ctl(idp, "GET", "/users")
    assert listed.status_code == 200
    assert [u["id"] for u in listed.json()["users"]] == ["zed"]

    removed = ctl(idp, "DELETE", "/users/zed")
    assert removed.status_code == 204
    assert removed.content == b""
    assert ctl(idp, "GET", "/users").json()["users"] == []
    # An unknown user again: any password, no configured claims.
    after = token_request(idp, {"grant_type": "password", "username": "zed",
                                "password": "anything"}, ("app", "app-secret"))
    assert after.status_code == 200, after.text
    assert "team" not in claims_of(after.json()["access_token"])

    missing = ctl(idp, "DELETE", "/users/zed")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert "zed" in missing.json()["error_description"]


def test_client_added_over_http_has_its_secret_checked(idp: MockIdP) -> None:
    added = ctl(idp, "POST", "/clients", json={
        "id": "c9", "secret": "s9", "grant_types": ["client_credentials"],
        "audience": ["orders-api"], "claims": {"tenant": "acme"},
    })
    assert added.status_code == 201, added.text
    assert added.json()["id"] == "c9"
    assert added.json()["grant_types"] == ["client_credentials"]

    wrong = client_credentials(idp, "c9", "wrong")
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    right = client_credentials(idp, "c9", "s9")
    assert right.status_code == 200, right.text
    claims = verified_claims(idp, right.json()["access_token"])
    assert claims["client_id"] == "c9"
    assert claims["tenant"] == "acme"
    assert claims["aud"] == "orders-api"
    refused = token_request(idp, {"grant_type": "password", "username": "u", "password": "p"},
                            ("c9", "s9"))
    assert refused.status_code == 400
    assert refused.json()["error"] == "unauthorized_client"

    assert [c["id"] for c in ctl(idp, "GET", "/clients").json()["clients"]] == ["c9"]
    assert ctl(idp, "DELETE", "/clients/c9").status_code == 204
    assert ctl(idp, "GET", "/clients").json()["clients"] == []
    # Gone: the provider is back to accepting any client id and secret.
    assert client_credentials(idp, "c9", "wrong").status_code == 200
    missing = ctl(idp, "DELETE", "/clients/c9")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"


def test_issuer_field_and_query_target_another_issuer(idp: MockIdP) -> None:
    user = ctl(idp, "POST", "/users", json={"id": "zed", "issuer": "tenant-b",
                                            "claims": {"team": "blue"}})
    assert user.status_code == 201, user.text
    client = ctl(idp, "POST", "/clients", json={"id": "c9", "secret": "s9",
                                                "issuer": "tenant-b"})
    assert client.status_code == 201, client.text

    assert ctl(idp, "GET", "/users").json()["users"] == []
    assert ctl(idp, "GET", "/clients").json()["clients"] == []
    in_b = ctl(idp, "GET", "/users", params={"issuer": "tenant-b"}).json()["users"]
    assert [u["id"] for u in in_b] == ["zed"]
    assert [c["id"] for c in
            ctl(idp, "GET", "/clients", params={"issuer": "tenant-b"}).json()["clients"]] == ["c9"]
    assert "tenant-b" in ctl(idp, "GET", "/health").json()["issuers"]

    # The secret is checked at tenant-b only.
    assert client_credentials(idp, "c9", "wrong", issuer="tenant-b").status_code == 401
    assert client_credentials(idp, "c9", "wrong").status_code == 200
    token = token_request(idp, {"grant_type": "password", "username": "zed", "password": "x"},
                          ("c9", "s9"), issuer="tenant-b")
    assert token.status_code == 200, token.text
    claims = verified_claims(idp, token.json()["access_token"], "tenant-b")
    assert claims["team"] == "blue"
    assert claims["iss"] == idp.issuer_url("tenant-b")

    assert ctl(idp, "DELETE", "/users/zed").status_code == 404
    assert ctl(idp, "DELETE", "/clients/c9").status_code == 404
    assert ctl(idp, "DELETE", "/users/zed", params={"issuer": "tenant-b"}).status_code == 204
    assert ctl(idp, "DELETE", "/clients/c9", params={"issuer": "tenant-b"}).status_code == 204
    assert client_credentials(idp, "c9", "wrong", issuer="tenant-b").status_code == 200


def test_user_and_client_fields_are_validated(idp: MockIdP) -> None:
    assert_invalid_request(ctl(idp, "POST", "/users", json={"claims": {}}), "user.id")
    assert_invalid_request(ctl(idp, "POST", "/users", json={"id": 5}), "user.id")
    assert_invalid_request(ctl(idp, "POST", "/users", json={"id": "u", "team": "red"}),
                           "user.team")
    assert_invalid_request(ctl(idp, "POST", "/users", json={"id": "u", "claims": ["x"]}),
                           "claims")
    assert_invalid_request(ctl(idp, "POST", "/users", json={"id": "u", "issuer": 5}), "issuer")
    assert_invalid_request(ctl(idp, "POST", "/clients", json={"secret": "s"}), "client.id")
    assert_invalid_request(ctl(idp, "POST", "/clients", json={"id": "c", "nope": True}),
                           "nope")
    assert_invalid_request(
        ctl(idp, "POST", "/clients", json={"id": "c", "redirect_uris": ["not-a-url"]}),
        "redirect_uris[0]", "not-a-url")
    assert_invalid_request(
        ctl(idp, "POST", "/clients", json={"id": "c", "grant_types": ["magic"]}),
        "grant_types[0]")
    assert ctl(idp, "GET", "/users").json()["users"] == []
    assert ctl(idp, "GET", "/clients").json()["clients"] == []


# -- rules -----------------------------------------------------------------------------------------

def test_rules_posted_over_http_fire_on_the_protocol(mockidp: MockIdP) -> None:
    """On the plugin's fixture: every rule added here fires, so the teardown check is quiet."""
    nested = ctl(mockidp, "POST", "/rules", json={
        "match": {"endpoint": "token", "grant_type": "client_credentials"},
        "error": {"error": "temporarily_unavailable", "description": "scripted outage",
                  "status": 503},
        "times": "once",
    })
    assert nested.status_code == 201, nested.text
    nested_id = nested.json()["id"]
    top_level = ctl(mockidp, "POST", "/rules", json={
        "id": "gold-tier", "endpoint": "token", "client_id": {"regex": "svc-.*"},
        "claims": {"access_token": {"set": {"tier": "gold", "who": "{client_id}"}}},
        "times": 2,
    })
    assert top_level.status_code == 201, top_level.text
    assert top_level.json()["match"] == {"endpoint": "token", "client_id": {"regex": "svc-.*"}}

    outage = client_credentials(mockidp, "svc-a")
    assert outage.status_code == 503
    assert outage.json() == {"error": "temporarily_unavailable",
                             "error_description": "scripted outage"}
    first = client_credentials(mockidp, "svc-a")
    assert first.status_code == 200, first.text
    claims = verified_claims(mockidp, first.json()["access_token"])
    assert claims["tier"] == "gold"
    assert claims["who"] == "svc-a"

    rules = {r["id"]: r for r in ctl(mockidp, "GET", "/rules").json()["rules"]}
    assert rules[nested_id]["fired"] == 1
    assert rules[nested_id]["active"] is False
    assert rules["gold-tier"]["fired"] == 1
    assert rules["gold-tier"]["active"] is True
    one = ctl(mockidp, "GET", "/rules/gold-tier")
    assert one.status_code == 200
    assert one.json()["fired"] == 1

    second = client_credentials(mockidp, "svc-b")
    assert claims_of(second.json()["access_token"])["tier"] == "gold"
    third = client_credentials(mockidp, "svc-c")
    assert "tier" not in claims_of(third.json()["access_token"])  # used up: times = 2
    journal = ctl(mockidp, "GET", "/journal", params={"endpoint": "token"}).json()["calls"]
    assert [c["rules"] for c in journal] == [[nested_id], ["gold-tier"], ["gold-tier"], []]
    assert ctl(mockidp, "GET", "/rules/unfired").json()["rules"] == []


def test_unfired_rules_are_listed_with_the_reason(idp: MockIdP) -> None:
    never = ctl(idp, "POST", "/rules", json={"id": "never", "endpoint": "token",
                                             "client_id": "nobody", "error": "invalid_grant"})
    assert never.status_code == 201, never.text
    idle = ctl(idp, "POST", "/rules", json={"id": "idle", "endpoint": "userinfo",
                                            "error": "invalid_token"})
    assert idle.status_code == 201
    optional = ctl(idp, "POST", "/rules", json={"id": "optional", "endpoint": "revoke",
                                                "error": "invalid_request", "expect": False})
    assert optional.status_code == 201
    fires = ctl(idp, "POST", "/rules", json={"id": "fires", "endpoint": "token",
                                             "claims": {"set": {"x": 1}}})
    assert fires.status_code == 201

    assert client_credentials(idp, "svc").status_code == 200
    unfired = ctl(idp, "GET", "/rules/unfired")
    assert unfired.status_code == 200
    reasons = {r["id"]: r["reason"] for r in unfired.json()["rules"]}
    assert set(reasons) == {"never", "idle"}
    assert reasons["never"] == "client_id: wanted 'nobody', got 'svc'"
    assert reasons["idle"] == "no request reached endpoint 'userinfo'"
    assert ctl(idp, "GET", "/rules/never").json()["reason"] == reasons["never"]

    assert ctl(idp, "DELETE", "/rules/never").status_code == 204
    assert ctl(idp, "GET", "/rules/never").status_code == 404
    again = ctl(idp, "DELETE", "/rules/never")
    assert again.status_code == 404
    assert again.json()["error"] == "not_found"
    assert [r["id"] for r in ctl(idp, "GET", "/rules").json()["rules"]] == [
        "idle", "optional", "fires"]
    assert ctl(idp, "DELETE", "/rules").status_code == 204
    assert ctl(idp, "GET", "/rules").json() == {"rules": []}
    assert ctl(idp, "GET", "/rules/unfired").json() == {"rules": []}


def test_bad_rules_are_refused_naming_the_field(idp: MockIdP) -> None:
    assert_invalid_request(ctl(idp, "POST", "/rules", json={"endpoint": "nope",
                                                            "error": "x"}),
                           "rule.match.endpoint", "nope")
    assert_invalid_request(ctl(idp, "POST", "/rules", json={"match": {"endpoint": "token",
                                                                      "colour": "red"},
                                                            "error": "x"}),
                           "rule.match.colour")
    assert_invalid_request(ctl(idp, "POST", "/rules", json={"endpoint": "token"}), "effect")
    assert_invalid_request(ctl(idp, "POST", "/rules", json={"endpoint": "token", "error": "x",
                                                            "times": 0}), "rule.times")
    assert_invalid_request(ctl(idp, "POST", "/rules", json={"endpoint": "token", "error": "x",
                                                            "shout": True}), "rule.shout")
    assert_invalid_request(
        ctl(idp, "POST", "/rules", json={"endpoint": "token", "client_id": {"regex": "("},
                                         "error": "x"}),
        "rule.match.client_id.regex")
    assert ctl(idp, "POST", "/rules", json={"id": "dup", "endpoint": "token",
                                            "error": "x"}).status_code == 201
    assert_invalid_request(ctl(idp, "POST", "/rules", json={"id": "dup", "endpoint": "token",
                                                            "error": "x"}), "dup")
    assert [r["id"] for r in ctl(idp, "GET", "/rules").json()["rules"]] == ["dup"]


# -- clock -----------------------------------------------------------------------------------------

def test_clock_is_set_over_http_and_shows_in_tokens(idp: MockIdP) -> None:
    skewed = ctl(idp, "POST", "/clock", json={"skew": 120})
    assert skewed.status_code == 200, skewed.text
    assert skewed.json()["offset"] == pytest.approx(120, abs=5)
    assert ctl(idp, "GET", "/clock").json()["offset"] == pytest.approx(120, abs=5)

    frozen = ctl(idp, "POST", "/clock", json={"freeze": "2030-01-01T00:00:00Z"})
    assert frozen.json()["frozen"] is True
    assert frozen.json()["now"] == 1893456000
    token = client_credentials(idp).json()["access_token"]
    assert claims_of(token)["iat"] == 1893456000
    advanced = ctl(idp, "POST", "/clock", json={"advance": 60})
    assert advanced.json()["now"] == 1893456060
    back = ctl(idp, "POST", "/clock", json={"reset": True})
    assert back.json()["frozen"] is False
    assert back.json()["offset"] == pytest.approx(0, abs=5)

    assert_invalid_request(ctl(idp, "POST", "/clock", json={"skew": "soon"}), "clock.skew")
    assert_invalid_request(ctl(idp, "POST", "/clock", json={"freeze": "someday"}),
                           "clock.freeze")
    assert_invalid_request(ctl(idp, "POST", "/clock", json={"reset": "yes"}), "clock.reset")
    assert_invalid_request(ctl(idp, "POST", "/clock", json={"speed": 2}), "clock.speed")


def test_clock_refuses_a_skew_that_is_not_a_number(idp: MockIdP) -> None:
    """``NaN`` is not JSON (RFC 8259 §6); a lenient parser lets it through, and a clock set to
    NaN breaks every token the provider mints afterwards."""
    response = ctl(idp, "POST", "/clock", data=b'{"skew": NaN}', headers=JSON)
    assert_invalid_request(response)
    assert client_credentials(idp).status_code == 200


# -- journal ---------------------------------------------------------------------------------------

def test_journal_shows_calls_with_masked_secrets_and_minted_claims(idp: MockIdP) -> None:
    ok = token_request(idp, {"grant_type": "client_credentials", "client_id": "svc",
                             "client_secret": "svc-secret", "scope": "read"})
    assert ok.status_code == 200, ok.text
    ctl(idp, "POST", "/clients", json={"id": "locked", "secret": "right"})
    refused = token_request(idp, {"grant_type": "client_credentials", "client_id": "locked",
                                  "client_secret": "wrong", "scope": "write"})
    assert refused.status_code == 401
    password = token_request(idp, {"grant_type": "password", "username": "u",
                                   "password": "hunter2"}, ("app", "app-secret"))
    assert password.status_code == 200
    requests.get(idp.issuer_url() + "/.well-known/openid-configuration", timeout=TIMEOUT)

    response = ctl(idp, "GET", "/journal",
                   params={"endpoint": "token", "grant_type": "client_credentials"})
    assert response.status_code == 200, response.text
    calls = response.json()["calls"]
    assert [(c["client_id"], c["status"], c["error"]) for c in calls] == [
        ("svc", 200, None), ("locked", 401, "invalid_client")]
    first, second = calls
    assert first["params"] == {"grant_type": "client_credentials", "client_id": "svc",
                               "client_secret": "***", "scope": "read"}
    assert second["params"]["client_secret"] == "***"
    assert first["tokens"]["access_token"] == claims_of(ok.json()["access_token"])
    assert second["tokens"] == {}
    assert first["method"] == "POST"
    assert first["path"] == "/default/token"
    assert first["issuer"] == "default"
    assert first["seq"] < second["seq"]
    assert "hunter2" not in response.text

    every = ctl(idp, "GET", "/journal").json()["calls"]
    assert [c["endpoint"] for c in every] == ["token", "token", "token", "discovery"]
    assert every[2]["params"]["password"] == "***"
    assert "hunter2" not in ctl(idp, "GET", "/journal").text

    scoped = ctl(idp, "GET", "/journal", params={"params.scope": "write"}).json()["calls"]
    assert [c["client_id"] for c in scoped] == ["locked"]
    by_status = ctl(idp, "GET", "/journal", params={"status": "401"}).json()["calls"]
    assert [c["client_id"] for c in by_status] == ["locked"]
    last = ctl(idp, "GET", "/journal", params={"endpoint": "token", "limit": "1"}).json()
    assert [c["grant_type"] for c in last["calls"]] == ["password"]
    assert ctl(idp, "GET", "/journal", params={"limit": "0"}).json() == {"calls": []}

    assert ctl(idp, "DELETE", "/journal").status_code == 204
    assert ctl(idp, "GET", "/journal").json() == {"calls": []}


@pytest.mark.parametrize(("query", "named"), [
    ({"colour": "red"}, "colour"),
    ({"endpoint": "token", "bogus": "1"}, "bogus"),
    ({"limit": "many"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"status": "ok"}, "status"),
    ({"params": "scope"}, "params"),
], ids=["unknown", "unknown-among-known", "limit-word", "limit-negative", "status-word",
        "bare-params"])
def test_journal_refuses_a_bad_filter_naming_it(idp: MockIdP, query: dict[str, str],
                                                named: str) -> None:
    assert client_credentials(idp, scope="read").status_code == 200  # something to filter
    assert_invalid_request(ctl(idp, "GET", "/journal", params=query), named)


def test_journal_is_a_ring_buffer_of_journal_size() -> None:
    with MockIdP({"journal_size": 3}) as small:
        for i in range(5):
            assert client_credentials(small, scope=f"s{i}").status_code == 200
        calls = ctl(small, "GET", "/journal").json()["calls"]
        assert [c["params"]["scope"] for c in calls] == ["s2", "s3", "s4"]
        assert [c["seq"] for c in calls] == sorted(c["seq"] for c in calls)


# -- minting ---------------------------------------------------------------------------------------

def test_mint_returns_a_signed_token_with_the_claims_asked(idp: MockIdP) -> None:
    response = ctl(idp, "POST", "/mint", json={
        "sub": "alice", "claims": {"role": "admin"}, "audience": ["my-api", "other"],
        "expires_in": 120, "scope": "read write", "client_id": "cli", "alg": "ES256",
    })
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    claims = verified_claims(idp, token)
    assert claims["sub"] == "alice"
    assert claims["role"] == "admin"
    assert claims["aud"] == ["my-api", "other"]
    assert claims["scope"] == "read write"
    assert claims["client_id"] == "cli"
    assert claims["iss"] == idp.issuer_url()
    assert claims["exp"] - claims["iat"] == 120

    typed = ctl(idp, "POST", "/mint", json={"typ": "at+jwt", "remove": ["jti"]}).json()
    assert jwt.get_unverified_header(typed["token"])["typ"] == "at+jwt"
    assert "jti" not in claims_of(typed["token"])

    in_b = ctl(idp, "POST", "/mint", json={"issuer": "tenant-b"}).json()["token"]
    assert verified_claims(idp, in_b, "tenant-b")["iss"] == idp.issuer_url("tenant-b")


def test_mint_bad_and_the_catalogue(idp: MockIdP) -> None:
    catalogue = ctl(idp, "GET", "/bad-tokens")
    assert catalogue.status_code == 200
    kinds = catalogue.json()["kinds"]
    assert kinds == idp.bad_token_kinds()
    assert "expired" in kinds
    expired = ctl(idp, "POST", "/mint-bad", json={"kind": "expired", "sub": "alice"})
    assert expired.status_code == 200, expired.text
    assert expired.json()["kind"] == "expired"
    claims = claims_of(expired.json()["token"])
    assert claims["sub"] == "alice"
    assert claims["exp"] < time.time()
    info = requests.get(idp.issuer_url() + "/userinfo", timeout=TIMEOUT,
                        headers={"Authorization": "Bearer " + expired.json()["token"]})
    assert info.status_code == 401


@pytest.mark.parametrize(("body", "named"), [
    ({"audience": 5}, "mint: audience"),
    ({"unknown_field": 1}, "mint.unknown_field"),
    ({"sub": ""}, "mint: sub"),
    ({"sub": 7}, "mint: sub"),
    ({"claims": ["role"]}, "mint: claims"),
    ({"expires_in": "soon"}, "mint: expires_in"),
    ({"expires_in": 1.5}, "mint: expires_in"),
    ({"scope": {"read": True}}, "mint: scope"),
    ({"remove": "jti"}, "mint: remove"),
    ({"alg": "HS256"}, "mint: alg"),
    ({"alg": {}}, "mint: alg"),
    ({"client_id": ""}, "mint: client_id"),
    ({"typ": 5}, "mint: typ"),
    ({"skew": "later"}, "mint: skew"),
], ids=["audience-number", "unknown-field", "sub-empty", "sub-number", "claims-list",
        "expires_in-string", "expires_in-float", "scope-object", "remove-string", "alg-hs256",
        "alg-object", "client_id-empty", "typ-number", "skew-string"])
def test_mint_names_the_bad_field(idp: MockIdP, body: dict[str, Any], named: str) -> None:
    assert_invalid_request(ctl(idp, "POST", "/mint", json=body), named)


@pytest.mark.parametrize(("body", "named"), [
    ({"sub": "alice"}, "mint_bad.kind"),
    ({"kind": "nope"}, "kind"),
    ({"kind": ["expired"]}, "kind"),
    ({"kind": "expired", "typ": "JWT"}, "mint_bad.typ"),
    ({"kind": "expired", "audience": 5}, "audience"),
], ids=["missing-kind", "unknown-kind", "list-kind", "typ", "audience"])
def test_mint_bad_names_the_bad_field(idp: MockIdP, body: dict[str, Any], named: str) -> None:
    assert_invalid_request(ctl(idp, "POST", "/mint-bad", json=body), named)


@pytest.mark.parametrize("raw", [b'{"skew": NaN}', b'{"skew": Infinity}',
                                 b'{"skew": -Infinity}'], ids=["nan", "inf", "-inf"])
def test_mint_refuses_a_skew_that_is_not_a_finite_number(idp: MockIdP, raw: bytes) -> None:
    assert_invalid_request(ctl(idp, "POST", "/mint", data=raw, headers=JSON), "skew")


# -- reset -----------------------------------------------------------------------------------------

def test_reset_drops_what_was_added(idp: MockIdP) -> None:
    assert ctl(idp, "POST", "/users", json={"id": "zed", "password": "pw"}).status_code == 201
    assert ctl(idp, "POST", "/clients", json={"id": "c9", "secret": "s9"}).status_code == 201
    assert ctl(idp, "POST", "/rules", json={"endpoint": "userinfo",
                                            "error": "invalid_token"}).status_code == 201
    assert ctl(idp, "POST", "/clock", json={"skew": 500}).status_code == 200
    assert client_credentials(idp, "c9", "wrong").status_code == 401

    reset = ctl(idp, "POST", "/reset", json={})
    assert reset.status_code == 200
    assert reset.json() == {"status": "reset"}
    assert ctl(idp, "GET", "/users").json() == {"users": []}
    assert ctl(idp, "GET", "/clients").json() == {"clients": []}
    assert ctl(idp, "GET", "/rules").json() == {"rules": []}
    assert ctl(idp, "GET", "/clock").json()["offset"] == pytest.approx(0, abs=5)
    assert ctl(idp, "GET", "/journal").json() == {"calls": []}
    assert client_credentials(idp, "c9", "wrong").status_code == 200
    anyone = token_request(idp, {"grant_type": "password", "username": "zed",
                                 "password": "other"}, ("app", "x"))
    assert anyone.status_code == 200


# -- validation: bad bodies are 400s, never 500s -----------------------------------------------

def post_routes(idp: MockIdP) -> list[str]:
    return sorted(path for path, method in server_routes(idp) if method == "post")


@pytest.mark.parametrize("route", ["/users", "/clients", "/rules", "/clock", "/mint",
                                   "/mint-bad"])
def test_bodies_that_are_not_a_json_object_are_refused(idp: MockIdP, route: str) -> None:
    assert_invalid_request(ctl(idp, "POST", route, data=b'{"id": ', headers=JSON), "body",
                           "JSON")
    assert_invalid_request(ctl(idp, "POST", route, json=[{"id": "x"}]), "body",
                           "JSON object")
    assert_invalid_request(ctl(idp, "POST", route, json="x"), "body", "JSON object")
    assert_invalid_request(ctl(idp, "POST", route, data=b'{"id": "x"}',
                               headers={"Content-Type": "text/plain"}),
                           "Content-Type", "application/json")
    assert_invalid_request(ctl(idp, "POST", route, data={"id": "x"}), "Content-Type")
    field, body = {
        "/users": ("user.surprise", {"id": "x", "surprise": 1}),
        "/clients": ("x.surprise", {"id": "x", "surprise": 1}),
        "/rules": ("rule.surprise", {"endpoint": "token", "error": "x", "surprise": 1}),
        "/clock": ("clock.surprise", {"surprise": 1}),
        "/mint": ("mint.surprise", {"surprise": 1}),
        "/mint-bad": ("mint_bad.surprise", {"kind": "expired", "surprise": 1}),
    }[route]
    assert_invalid_request(ctl(idp, "POST", route, json=body), field)


NASTY: list[tuple[str, bytes, str]] = [
    ("empty", b"", "application/json"),
    ("whitespace", b"  \n ", "application/json"),
    ("truncated", b'{"id": "x', "application/json"),
    ("null", b"null", "application/json"),
    ("number", b"42", "application/json"),
    ("string", b'"id"', "application/json"),
    ("array", b'[{"id": "x"}]', "application/json"),
    ("not-utf8", b'{"id": "\xff\xfe"}', "application/json"),
    ("bom", b'\xef\xbb\xbf{"id": "x"}', "application/json"),
    ("form", b"id=x&secret=y", "application/x-www-form-urlencoded"),
    ("no-content-type", b'{"id": "x"}', ""),
    ("charset", b'{"id": "x"}', "application/json; charset=latin-1"),
    ("deep-array", b"[" * 20000 + b"]" * 20000, "application/json"),
    ("deep-object", b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json"),
    ("huge-int", b"9" * 5000, "application/json"),
    ("huge-int-field", b'{"id": ' + b"9" * 5000 + b"}", "application/json"),
    ("nan", b"NaN", "application/json"),
    ("control-chars", b'{"id": "a\\u0000b\\n"}', "application/json"),
    ("lone-surrogate", b'{"id": "\\ud800"}', "application/json"),
    ("long-string", b'{"id": "' + b"x" * 60000 + b'"}', "application/json"),
]

# Bodies of the right shape with values a lenient parser or a loose check lets through.
ROUTE_NASTY: list[tuple[str, str, bytes]] = [
    ("users-null-id", "/users", b'{"id": null}'),
    ("users-claims-string", "/users", b'{"id": "x", "claims": "x"}'),
    ("users-password-number", "/users", b'{"id": "x", "password": 5}'),
    ("users-issuer-path", "/users", b'{"id": "x", "issuer": "../../etc/passwd"}'),
    ("users-issuer-reserved", "/users", b'{"id": "x", "issuer": "_mockidp"}'),
    ("users-claims-nested", "/users", b'{"id": "x", "claims": {"sub": {"a": [1, {}]}}}'),
    ("clients-null-lists", "/clients", b'{"id": "x", "redirect_uris": [null]}'),
    ("clients-inf-lifetime", "/clients", b'{"id": "x", "access_token_lifetime": 1e400}'),
    ("clients-alg-list", "/clients", b'{"id": "x", "signing_alg": []}'),
    ("clients-protected", "/clients", b'{"id": "x", "claims": {"iss": "x"}}'),
    ("rules-match-list", "/rules", b'{"match": [], "error": "x"}'),
    ("rules-endpoint-list", "/rules", b'{"endpoint": [], "error": "x"}'),
    ("rules-bad-regex", "/rules",
     b'{"endpoint": "token", "client_id": {"regex": "(?P<"}, "error": "x"}'),
    ("rules-status-bool", "/rules", b'{"endpoint": "token", "error": {"error": "x", '
                                    b'"status": true}}'),
    ("rules-times-inf", "/rules", b'{"endpoint": "token", "error": "x", "times": 1e400}'),
    ("rules-kind-list", "/rules", b'{"endpoint": "token", "bad_token": {"kind": []}}'),
    ("rules-fault-dict", "/rules", b'{"endpoint": "token", "fault": {"kind": {}}}'),
    ("rules-delay-nan", "/rules", b'{"endpoint": "token", "delay": NaN}'),
    ("rules-delay-obj-nan", "/rules", b'{"endpoint": "token", "delay": {"seconds": NaN}}'),
    ("rules-skew-nan", "/rules", b'{"endpoint": "token", "skew": NaN}'),
    ("rules-skew-inf", "/rules", b'{"endpoint": "token", "skew": Infinity}'),
    ("clock-skew-nan", "/clock", b'{"skew": NaN}'),
    ("clock-skew-inf", "/clock", b'{"skew": Infinity}'),
    ("clock-advance-nan", "/clock", b'{"advance": NaN}'),
    ("clock-freeze-nan", "/clock", b'{"freeze": NaN}'),
    ("clock-freeze-inf", "/clock", b'{"freeze": -Infinity}'),
    ("clock-freeze-list", "/clock", b'{"freeze": []}'),
    ("clock-freeze-far", "/clock", b'{"freeze": "0001-01-01T00:00:00+14:00"}'),
    ("mint-skew-nan", "/mint", b'{"skew": NaN}'),
    ("mint-skew-inf", "/mint", b'{"skew": Infinity}'),
    ("mint-expires-inf", "/mint", b'{"expires_in": 1e999}'),
    ("mint-alg-dict", "/mint", b'{"alg": {"a": 1}}'),
    ("mint-issuer-reserved", "/mint", b'{"issuer": "_mockidp"}'),
    ("mint-sub-surrogate", "/mint", b'{"sub": "\\udfff"}'),
    ("mint-bad-kind-list", "/mint-bad", b'{"kind": []}'),
    ("mint-bad-kind-dict", "/mint-bad", b'{"kind": {"a": 1}}'),
    ("mint-bad-kind-null", "/mint-bad", b'{"kind": null}'),
    ("reset-garbage", "/reset", b"[[[["),
]


def check_survives(idp: MockIdP, route: str, raw: bytes, content_type: str) -> list[str]:
    """POST ``raw`` to ``route``; what went wrong, if anything (empty: nothing)."""
    failures = []
    ctl(idp, "POST", "/reset", json={})
    headers = {"Content-Type": content_type} if content_type else {}
    response = requests.post(idp.url + PREFIX + route, data=raw, headers=headers,
                             timeout=TIMEOUT)
    if response.status_code >= 500:
        failures.append(f"POST {route}: {response.status_code} {response.text[:120]}")
    elif response.status_code >= 400:
        body = response.json()
        if not isinstance(body.get("error"), str) or not body.get("error_description"):
            failures.append(f"POST {route}: {response.status_code} without a description")
    # Whatever was accepted, the provider still works and still speaks JSON.
    health = ctl(idp, "GET", "/health")
    clock = ctl(idp, "GET", "/clock")
    token = client_credentials(idp)
    if health.status_code != 200 or token.status_code >= 500:
        failures.append(f"after POST {route} ({response.status_code} {response.text[:80]}): "
                        f"health {health.status_code}, token {token.status_code}")
    if "NaN" in clock.text or "Infinity" in clock.text:
        failures.append(f"after POST {route}: GET /clock is not JSON: {clock.text}")
    ctl(idp, "POST", "/reset", json={})
    return failures


@pytest.mark.parametrize(("raw", "content_type"),
                         [pytest.param(raw, ctype, id=name) for name, raw, ctype in NASTY])
def test_nasty_bodies_never_break_the_server(shared: MockIdP, raw: bytes,
                                             content_type: str) -> None:
    routes = post_routes(shared)
    assert f"{PREFIX}/mint" in routes
    failures = [f for route in routes
                for f in check_survives(shared, route.removeprefix(PREFIX), raw, content_type)]
    assert failures == []


@pytest.mark.parametrize(("route", "raw"),
                         [pytest.param(route, raw, id=name) for name, route, raw in ROUTE_NASTY])
def test_nasty_values_never_break_the_server(shared: MockIdP, route: str, raw: bytes) -> None:
    assert check_survives(shared, route, raw, "application/json") == []


# -- protection --------------------------------------------------------------------------------

def every_control_request(idp: MockIdP) -> list[tuple[str, str]]:
    return sorted((method.upper(), fill_path(path)) for path, method in server_routes(idp))


def test_control_token_guards_every_route_but_health() -> None:
    with MockIdP(control_token="s3cret") as guarded:
        routes = every_control_request(guarded)
        assert len(routes) > 10
        for method, path in routes:
            if path == PREFIX + "/health":
                continue
            url = guarded.url + path
            for headers in ({}, {"Authorization": "Bearer wrong"},
                            {"Authorization": "Bearer s3cret-and-more"},
                            {"Authorization": "Basic czNjcmV0"}, {"Authorization": "s3cret"}):
                response = requests.request(method, url, headers=headers, timeout=TIMEOUT)
                assert response.status_code == 401, (method, path, headers)
                assert response.headers["WWW-Authenticate"].startswith("Bearer"), (method, path)
                assert response.json()["error"] == "invalid_token"
            allowed = requests.request(method, url, headers={"Authorization": "Bearer s3cret"},
                                       timeout=TIMEOUT)
            assert allowed.status_code != 401, (method, path, allowed.text)
        health = ctl(guarded, "GET", "/health")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"

        auth = {"Authorization": "Bearer s3cret"}
        added = ctl(guarded, "POST", "/clients", json={"id": "c9", "secret": "s9"},
                    headers=auth)
        assert added.status_code == 201
        assert client_credentials(guarded, "c9", "wrong").status_code == 401
        refused = ctl(guarded, "POST", "/reset")
        assert refused.status_code == 401
        assert client_credentials(guarded, "c9", "wrong").status_code == 401  # not reset


def test_control_false_hides_the_control_api_but_serves_the_protocol() -> None:
    with MockIdP(control=False) as plain:
        for method, path in every_control_request(MockIdP()):
            response = requests.request(method, plain.url + path, timeout=TIMEOUT)
            assert response.status_code == 404, (method, path, response.status_code)
        doc = requests.get(plain.issuer_url() + "/.well-known/openid-configuration",
                           timeout=TIMEOUT)
        assert doc.status_code == 200
        assert doc.json()["issuer"] == plain.issuer_url()
        assert client_credentials(plain).status_code == 200


# -- the config door -----------------------------------------------------------------------------

CONFIG_WITH_RULES = """
clock = { skew = 30 }

[[rules]]
id = "outage"
endpoint = "token"
error = { error = "temporarily_unavailable", description = "from config", status = 503 }
times = "once"
"""


def test_config_rules_and_clock_apply_and_come_back_after_reset(tmp_path: Path) -> None:
    config = tmp_path / "idp.toml"
    config.write_text(CONFIG_WITH_RULES)
    with MockIdP(config) as configured:
        assert ctl(configured, "GET", "/clock").json()["offset"] == pytest.approx(30, abs=5)
        rules = ctl(configured, "GET", "/rules").json()["rules"]
        assert [(r["id"], r["fired"]) for r in rules] == [("outage", 0)]

        outage = client_credentials(configured)
        assert outage.status_code == 503
        assert outage.json()["error"] == "temporarily_unavailable"
        assert outage.json()["error_description"] == "from config"
        assert client_credentials(configured).status_code == 200
        assert ctl(configured, "GET", "/rules/outage").json()["fired"] == 1

        assert ctl(configured, "POST", "/clock", json={"skew": -400}).status_code == 200
        assert ctl(configured, "POST", "/rules", json={"id": "extra", "endpoint": "jwks",
                                                       "error": "x"}).status_code == 201
        configured.reset()
        rules = ctl(configured, "GET", "/rules").json()["rules"]
        assert [(r["id"], r["fired"], r["active"]) for r in rules] == [("outage", 0, True)]
        assert ctl(configured, "GET", "/clock").json()["offset"] == pytest.approx(30, abs=5)
        assert client_credentials(configured).status_code == 503  # fires again
        # The HTTP reset does the same.
        assert ctl(configured, "POST", "/reset", json={}).status_code == 200
        assert ctl(configured, "GET", "/rules/outage").json()["fired"] == 0
        token = client_credentials(configured)
        assert token.status_code == 503


def test_config_clock_skew_shows_in_minted_tokens(tmp_path: Path) -> None:
    config = tmp_path / "idp.toml"
    config.write_text("clock = { skew = 3600 }\n")
    with MockIdP(config) as configured:
        token = ctl(configured, "POST", "/mint", json={"sub": "alice"}).json()["token"]
        iat = claims_of(token)["iat"]
        assert math.isclose(iat - time.time(), 3600, abs_tol=60)


@pytest.mark.parametrize(("rules", "field"), [
    ('[[rules]]\nendpoint = "nowhere"\nerror = "x"\n', "rules[0].match.endpoint"),
    ('[[rules]]\nendpoint = "token"\n', "rules[0]"),
    ('[[rules]]\nendpoint = "token"\nerror = "x"\ncolour = "red"\n', "rules[0].colour"),
    ('[[rules]]\nendpoint = "token"\nerror = "x"\ntimes = 0\n', "rules[0].times"),
])
def test_invalid_config_rule_names_the_file_and_the_rule(tmp_path: Path, rules: str,
                                                         field: str) -> None:
    config = tmp_path / "broken.toml"
    config.write_text(rules)
    with pytest.raises(MockIdPError) as raised:
        MockIdP(config)
    message = str(raised.value)
    assert str(config) in message
    assert field in message
