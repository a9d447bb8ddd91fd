"""The field table (`mockidp.core.fields`) is the one source of client, user and issuer fields.

Each test fails when a field is added, removed or renamed in one place only: in the table, in
the `Client`/`User`/`IssuerSettings` records, at a door (config, `add_client`, the control API,
registration), in an OpenAPI document or on the dashboard.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from mockidp import MockIdP, MockIdPError
from mockidp.core import fields, settings
from mockidp.core.fields import (
    CLIENT_FIELDS,
    ISSUER_DEFAULTS,
    ISSUER_FIELDS,
    LIFETIME_FIELDS,
    REGISTRATION_ONLY,
    USER_FIELDS,
    Field,
)
from mockidp.core.model import Client, User
from mockidp.core.settings import IssuerSettings, Lifetimes, parse_settings
from mockidp.protocol import authz, discovery
from mockidp.protocol.register import METADATA
from mockidp.scripting.dashboard import client_data, user_data
from mockidp.web import create_app
from mockidp.web.openapi import openapi_document
from mockidp.web.protocol_openapi import protocol_openapi_document

# One good and one bad value per kind: a kind added to the table without them fails here.
GOOD: dict[str, Any] = {
    "string": "s3cret", "text": "words", "strings": ["api"], "url": "https://rp.example/x",
    "urls": ["https://rp.example/cb"], "boolean": True, "seconds": 42, "claims": {"team": "b"},
    "jwks": {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]},
}
BAD: dict[str, Any] = {
    "string": 5, "strings": 5, "url": "not a url", "urls": ["not a url"], "boolean": "yes",
    "seconds": -1, "choice": "nope", "choices": ["nope"], "claims": 3, "jwks": 3,
}


def good(field: Field) -> Any:
    if field.kind == "choice":
        return field.choices[-1]
    if field.kind == "choices":
        return [field.choices[-1]]
    return GOOD[field.kind]


def stored(field: Field, value: Any) -> Any:
    """What a record holds for ``value`` given to ``field`` (lists become tuples)."""
    return tuple(value) if isinstance(value, list) else value


def names(rows: tuple[Field, ...]) -> list[str]:
    return [f.name for f in rows]


@pytest.fixture
def control() -> Iterator[tuple[MockIdP, FlaskClient]]:
    idp = MockIdP()
    yield idp, create_app(idp).test_client()


# -- the records --------------------------------------------------------------------------------

def test_every_client_attribute_is_a_row_with_the_same_default() -> None:
    record = {f.name: f for f in dataclasses.fields(Client)
              if f.name not in ("id", "registered")}
    assert list(record) == names(CLIENT_FIELDS)
    for row in CLIENT_FIELDS:
        attr = record[row.name]
        default = (attr.default_factory() if attr.default_factory is not dataclasses.MISSING
                   else attr.default)
        assert default == row.default, row.name


def test_every_user_attribute_is_a_row_with_the_same_default() -> None:
    record = {f.name: f for f in dataclasses.fields(User) if f.name != "id"}
    assert list(record) == names(USER_FIELDS)
    assert User("u").claims == USER_FIELDS[0].default and User("u").password is None


def test_issuer_settings_hold_every_issuer_row_with_the_table_defaults() -> None:
    lifetimes = {f"{f.name}_lifetime" for f in dataclasses.fields(Lifetimes)}
    assert lifetimes == set(names(LIFETIME_FIELDS))
    plain = {f.name for f in dataclasses.fields(IssuerSettings)} - {
        "name", "lifetimes", "users", "clients", "profile", "options"}  # issuer-only keys
    assert plain | lifetimes == set(names(ISSUER_FIELDS))
    built = settings.Settings().issuer("x")
    for row in ISSUER_FIELDS:
        where = (built.lifetimes, row.name.removesuffix("_lifetime")) if row in LIFETIME_FIELDS \
            else (built, row.name)
        assert getattr(*where) == ISSUER_DEFAULTS[row.name], row.name
        if row not in LIFETIME_FIELDS:  # the dataclass defaults are the table's too
            assert getattr(IssuerSettings("x"), row.name) == ISSUER_DEFAULTS[row.name]


def test_every_issuer_row_is_accepted_by_config_top_level_and_per_issuer() -> None:
    for row in ISSUER_FIELDS:
        value = good(row)
        parsed = parse_settings({row.name: value, "issuers": {"t": {row.name: value}}}, "c")
        for name in ("default", "t"):
            issuer = parsed.issuer(name)
            got = (getattr(issuer.lifetimes, row.name.removesuffix("_lifetime"))
                   if row in LIFETIME_FIELDS else getattr(issuer, row.name))
            assert got == stored(row, value), row.name
        with pytest.raises(MockIdPError, match=rf"c: issuers.t.{row.name}(\[0\])?: expected "):
            parse_settings({"issuers": {"t": {row.name: BAD[row.kind]}}}, "c")


# -- the doors that add clients and users --------------------------------------------------------

@pytest.mark.parametrize("row", CLIENT_FIELDS, ids=lambda f: f.name)
def test_every_client_row_is_accepted_by_config_add_client_and_the_control_api(
        row: Field, control: tuple[MockIdP, FlaskClient]) -> None:
    idp, http = control
    value = good(row)
    from_config = parse_settings({"clients": {"app": {row.name: value}}}, "c").clients["app"]
    from_python = idp.add_client("app", **{row.name: value})
    answer = http.post("/_mockidp/clients", json={"id": "web", row.name: value})
    assert answer.status_code == 201, answer.get_json()
    from_http = idp.clients()["web"]
    for client in (from_config, from_python, from_http):
        assert getattr(client, row.name) == stored(row, value)


@pytest.mark.parametrize("row", CLIENT_FIELDS, ids=lambda f: f.name)
def test_a_bad_client_value_names_the_field_and_the_tables_expectation(
        row: Field, control: tuple[MockIdP, FlaskClient]) -> None:
    idp, http = control
    bad = BAD[row.kind]
    words = row.expected if not isinstance(bad, list) else row.item_expected
    with pytest.raises(MockIdPError) as config:
        parse_settings({"clients": {"app": {row.name: bad}}}, "c.toml")
    assert str(config.value).startswith(f"c.toml: clients.app.{row.name}")
    with pytest.raises(MockIdPError) as python:
        idp.add_client("app", **{row.name: bad})
    answer = http.post("/_mockidp/clients", json={"id": "app", row.name: bad})
    assert answer.status_code == 400
    for message in (str(config.value), str(python.value),
                    answer.get_json()["error_description"]):
        assert f"expected {words}" in message or row.kind in ("claims", "jwks"), message


@pytest.mark.parametrize("row", USER_FIELDS, ids=lambda f: f.name)
def test_every_user_row_is_accepted_by_config_add_user_and_the_control_api(
        row: Field, control: tuple[MockIdP, FlaskClient]) -> None:
    idp, http = control
    value = good(row)
    from_config = parse_settings({"users": {"al": {row.name: value}}}, "c").users["al"]
    from_python = idp.add_user("al", **({"claims": value} if row.name == "claims"
                                        else {row.name: value}))
    answer = http.post("/_mockidp/users", json={"id": "bo", row.name: value})
    assert answer.status_code == 201, answer.get_json()
    for user in (from_config, from_python, idp.users()["bo"]):
        assert getattr(user, row.name) == value


def test_unknown_fields_are_refused_listing_the_table() -> None:
    listed = ", ".join(names(CLIENT_FIELDS))
    with pytest.raises(MockIdPError, match=f"c: clients.a.nope: unknown field; expected one of: "
                                           f"{listed}$"):
        parse_settings({"clients": {"a": {"nope": 1}}}, "c")
    idp = MockIdP()
    http = create_app(idp).test_client()
    for name in ("nope", "client_id", "self", "registered"):  # clashing names answer 400 too
        answer = http.post("/_mockidp/clients", json={"id": "a", name: "x"})
        assert answer.status_code == 400
        assert answer.get_json()["error_description"].endswith(f"expected one of: {listed}")
    answer = http.post("/_mockidp/users", json={"id": "u", "nope": 1})
    assert answer.get_json()["error_description"] == (
        "user.nope: unknown field; expected one of: id, " + ", ".join(names(USER_FIELDS))
        + ", issuer")


# -- what the doors show ---------------------------------------------------------------------------

def shown_names(rows: tuple[Field, ...], door: str) -> set[str]:
    return {f.shown_as or f.name for f in rows if door in f.doors}


def test_control_json_and_dashboard_show_the_flagged_rows_and_no_secret(
        control: tuple[MockIdP, FlaskClient]) -> None:
    idp, http = control
    client = idp.add_client("app", "s3cret")
    user = idp.add_user("al", {"team": "b"}, password="pw")
    listed = http.get("/_mockidp/clients").get_json()["clients"][0]
    assert set(listed) == {"id"} | shown_names(CLIENT_FIELDS, "control")
    assert set(client_data(client)) == {"id"} | shown_names(CLIENT_FIELDS, "dashboard")
    people = http.get("/_mockidp/users").get_json()["users"][0]
    assert set(people) == {"id", "sub"} | shown_names(USER_FIELDS, "control")
    assert set(user_data(user)) == {"id", "sub"} | shown_names(USER_FIELDS, "dashboard")
    for shown in (listed, client_data(client), people, user_data(user)):
        assert "s3cret" not in repr(shown) and "pw" not in repr(shown).replace("'", " ")
    assert listed["confidential"] is True and people["has_password"] is True


def test_the_control_openapi_schemas_are_the_table() -> None:
    schemas = openapi_document()["components"]["schemas"]
    for name, rows in (("ClientIn", CLIENT_FIELDS), ("UserIn", USER_FIELDS)):
        properties = schemas[name]["properties"]
        assert set(properties) == {"id", "issuer", *names(rows)}, name
        for row in rows:
            assert properties[row.name] == row.schema(), (name, row.name)
    user = schemas["User"]["properties"]
    assert set(user) == {"id", "sub"} | shown_names(USER_FIELDS, "control")


def test_registration_metadata_is_the_table(control: tuple[MockIdP, FlaskClient]) -> None:
    idp, http = control
    documented = protocol_openapi_document()["components"]["schemas"]["ClientMetadata"]
    assert set(documented["properties"]) == {f.metadata for f in METADATA}
    assert {f.metadata for f in METADATA} == {
        f.metadata for f in (*CLIENT_FIELDS, *REGISTRATION_ONLY) if f.metadata}
    for row in CLIENT_FIELDS:
        if row.metadata is None:
            continue
        assert documented["properties"][row.metadata] == row.metadata_schema()
        metadata: dict[str, Any] = {"redirect_uris": ["https://rp.example/cb"],
                                    row.metadata: good(row)}
        if row.name == "grant_types":
            metadata[row.metadata] = ["authorization_code"]
        if row.name == "token_endpoint_auth_method":
            metadata[row.metadata] = "client_secret_post"
        answer = http.post("/default/register", json=metadata)
        assert answer.status_code == 201, (row.name, answer.get_json())
        client = idp.clients()[answer.get_json()["client_id"]]
        assert getattr(client, row.name) == stored(row, metadata[row.metadata]), row.name


# -- enumerations ---------------------------------------------------------------------------------

def test_every_enumeration_has_one_home() -> None:
    for name in ("SIGNING_ALGS", "GRANT_TYPES", "ACCESS_TOKEN_FORMATS", "CLIENT_AUTH_METHODS",
                 "PKCE_METHODS", "PROTECTED_CLAIMS"):
        assert getattr(settings, name) is getattr(fields, name), name
    assert authz.PKCE_METHODS is fields.PKCE_METHODS
    assert authz.RESPONSE_TYPES is fields.RESPONSE_TYPES
    assert discovery.CLIENT_AUTH_METHODS is fields.CLIENT_AUTH_METHODS
    rows = (*CLIENT_FIELDS, *USER_FIELDS, *ISSUER_FIELDS, *REGISTRATION_ONLY)
    enumerations = {id(v) for v in vars(fields).values() if isinstance(v, tuple)}
    for row in rows:
        if row.choices:
            assert id(row.choices) in enumerations, row.name
