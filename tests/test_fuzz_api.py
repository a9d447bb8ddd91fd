"""Fuzzing the HTTP API against its two OpenAPI documents, in process (schemathesis).

The control API (``/_mockidp/openapi.json``) and the protocol endpoints
(``/_mockidp/protocol-openapi.json``) are loaded from the Flask app itself and every documented
operation gets generated requests, valid and invalid, sent straight to the WSGI app (no socket).
Every answer must: not be a 5xx, carry no traceback, have a documented status code and content
type, fit the documented schema and headers.  The protocol document must also list exactly the
protocol routes the app has.

The runs are deterministic (a fixed seed, derandomized Hypothesis, no example database), so CI
sees the same requests every time.  ``MOCKIDP_FUZZ_EXAMPLES`` raises the number of generated
examples per operation (default 8) for a longer local run; ``MOCKIDP_FUZZ_SEED`` changes the
seed.  Nothing leaves the machine: the provider's own outgoing calls (back-channel logout,
client ``jwks_uri``) are refused unless they go to the loopback interface.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mockidp import MockIdP
from mockidp.core.model import ENDPOINTS
from mockidp.http.adapter import ProtocolAdapter
from mockidp.http.wire import MAX_BODY_BYTES
from mockidp.web import create_app
from mockidp.web.protocol_openapi import ROOT_METADATA_PATH, protocol_openapi_document

EXAMPLES = int(os.environ.get("MOCKIDP_FUZZ_EXAMPLES", "8"))
SEED = int(os.environ.get("MOCKIDP_FUZZ_SEED", "20240611"))
CONFIG = Path(__file__).resolve().parent.parent / "fixtures" / "config.toml"
IGNORED_METHODS = {"HEAD", "OPTIONS"}
PREFIX = "/_mockidp"
TRACEBACK = re.compile(rb"Traceback \(most recent call last\)|File \"[^\"]*\", line \d+|"
                       rb"werkzeug\.debug|\bsite-packages\b")


def fuzz_config() -> SchemathesisConfig:
    """Positive and negative data, a fixed seed, no example database; no stateful phase (the
    operations are independent requests)."""
    return SchemathesisConfig.from_dict({
        "seed": SEED,
        "generation": {"deterministic": True, "max-examples": EXAMPLES, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
    })


# One provider per document: the control API fuzzer adds rules, users, clock skews and keys,
# which must not leak into the protocol run.  Neither serves a socket.
CONTROL_APP = create_app(MockIdP())
PROTOCOL_APP = create_app(MockIdP(CONFIG))
CONTROL = schemathesis.openapi.from_wsgi("/_mockidp/openapi.json", CONTROL_APP,
                                         config=fuzz_config())
PROTOCOL = schemathesis.openapi.from_wsgi("/_mockidp/protocol-openapi.json", PROTOCOL_APP,
                                          config=fuzz_config())
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck), print_blob=False)


def no_traceback(ctx: Any, response: Any, case: Any) -> None:
    """No Python traceback, file path or debugger page in any answer (DESIGN.md, Errors)."""
    found = TRACEBACK.search(response.content)
    assert found is None, f"traceback text in the answer: {found.group(0)!r}"


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, no_traceback]


def _loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Refuse any outgoing connection, and any name lookup, that is not for the loopback
    interface (no fuzzed URL may send the provider anywhere else)."""
    connect = socket.socket.connect
    getaddrinfo = socket.getaddrinfo

    def refuse(host: Any) -> ConnectionRefusedError:
        return ConnectionRefusedError(f"test_fuzz_api: no network beyond loopback ({host!r})")

    def guarded_connect(sock: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and not _loopback(address[0]):
            raise refuse(address[0])
        return connect(sock, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _loopback(host):
            raise refuse(host)
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield


def test_the_network_guard_refuses_other_hosts() -> None:
    assert _loopback("127.0.0.1") and _loopback("::1") and _loopback("localhost")
    assert not _loopback("192.0.2.1") and not _loopback("example.org")
    with pytest.raises(ConnectionRefusedError):
        socket.getaddrinfo("192.0.2.1", 443)  # numeric: no lookup even without the guard
    assert socket.socket.connect.__name__ == "guarded_connect"


# -- the protocol document matches the app -------------------------------------------------------

def protocol_routes() -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every route of the app that is neither the control API nor
    a page of the dashboard: the protocol routes (the protocol adapter's route table)."""
    routes = set()
    for rule in PROTOCOL_APP.url_map.iter_rules():
        if rule.endpoint.startswith(("control.", "ui.")):
            continue
        path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - IGNORED_METHODS:
            routes.add((path, method.lower()))
    adapter = PROTOCOL_APP.wsgi_app
    assert isinstance(adapter, ProtocolAdapter)
    for path, route in adapter.routes.listing():
        for method in set(route.methods) - IGNORED_METHODS:
            routes.add((path, method.lower()))
    return routes


def documented(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield path, method, op


def test_protocol_document_lists_exactly_the_protocol_routes() -> None:
    doc = protocol_openapi_document()
    assert doc["openapi"] == "3.1.0"
    served = protocol_routes()
    listed = {(path, method) for path, method, _ in documented(doc)}
    assert listed - served == set(), "documented but not served"
    assert served - listed == set(), "served but not documented"
    expected = {("/{issuer}" + e.path, m.lower()) for e in ENDPOINTS for m in e.methods}
    assert listed == expected | {(ROOT_METADATA_PATH, "get")}


def test_protocol_document_is_served_by_the_control_api() -> None:
    response = PROTOCOL_APP.test_client().get("/_mockidp/protocol-openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == protocol_openapi_document()


def test_protocol_document_is_consistent() -> None:
    doc = protocol_openapi_document()
    ids = [op["operationId"] for _, _, op in documented(doc)]
    assert len(ids) == len(set(ids))
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

    walk(doc)
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"], ref
    schemes = set(doc["components"]["securitySchemes"])
    for path, method, op in documented(doc):
        where = f"{method.upper()} {path}"
        placeholders = set(re.findall(r"\{([^}]+)\}", path))
        declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
        assert declared == placeholders == {"issuer"}, where
        codes = set(op["responses"])
        assert {"400", "404", "405"} <= codes, where
        assert ("413" in codes) == (method == "post"), where
        assert len([c for c in codes if c.startswith("2")]) == 1, where
        assert all(name in schemes for entry in op["security"] for name in entry), where
        for code, answer in op["responses"].items():
            assert answer.get("description"), (where, code)
            if code in ("302", "303"):
                assert answer["headers"]["Location"]["required"] is True, where
            elif int(code) >= 400:
                assert "application/json" in answer["content"] or "text/html" in answer[
                    "content"], (where, code)


@pytest.mark.parametrize("operation", [result.ok() for result in PROTOCOL.get_all_operations()],
                         ids=lambda operation: operation.label)
def test_the_http_layers_own_answers_are_documented(operation: Any) -> None:
    """404 (a reserved issuer name), 405 (a method the path does not allow) and 413 (a body
    over the limit) answer as documented: fuzzing seldom reaches them."""

    def answers(status: int, **changes: Any) -> None:
        case = operation.Case(**changes)
        response = case.call()
        assert response.status_code == status, (case.method, response.content[:300])
        case.validate_response(response, checks=CHECKS)

    answers(404, path_parameters={"issuer": "_mockidp"})
    answers(405, method="PUT", path_parameters={"issuer": "default"})
    if operation.method.upper() == "POST":
        media_type = next(iter(operation.definition.raw["requestBody"]["content"]))
        answers(413, path_parameters={"issuer": "default"}, media_type=media_type,
                body={"pad": "a" * (MAX_BODY_BYTES + 1)})


# -- fuzzing ---------------------------------------------------------------------------------------
#
# One test function per documented operation, named after it (test_fuzz_protocol_post_token,
# test_fuzz_control_get_journal, ...): schemathesis names its items `test[GET /path]`, but with
# pytest 9 the node ids of one `parametrize()` all come out the same, so `--lf`, xdist reports
# and selection by id could not tell the operations apart.

def _fuzz_test(name: str, label: str) -> Any:
    def test(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    test.__name__ = test.__qualname__ = name
    test.__doc__ = f"{label}: generated requests never break the server or its document."
    return test


def _define_fuzz_tests(schema: Any, prefix: str) -> list[str]:
    names = []
    for result in schema.get_all_operations():
        operation = result.ok()
        path = operation.path.removeprefix("/{issuer}").removeprefix(PREFIX)
        slug = re.sub(r"[^a-z0-9]+", "_", path.lower())
        name = f"test_fuzz_{prefix}_{operation.method.lower()}_{slug.strip('_')}"
        assert name not in globals(), name
        only = schema.include(method=operation.method.upper(), path=operation.path)
        globals()[name] = only.parametrize()(FUZZ_SETTINGS(_fuzz_test(name, operation.label)))
        names.append(name)
    return names


PROTOCOL_FUZZ_TESTS = _define_fuzz_tests(PROTOCOL, "protocol")
CONTROL_FUZZ_TESTS = _define_fuzz_tests(CONTROL, "control")


def test_every_documented_operation_is_fuzzed() -> None:
    assert len(PROTOCOL_FUZZ_TESTS) == sum(
        len(item) for item in protocol_openapi_document()["paths"].values())
    assert len(CONTROL_FUZZ_TESTS) == len(set(CONTROL_FUZZ_TESTS)) > 20
