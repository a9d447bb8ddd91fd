"""The control API at ``/_mockidp/``: the same methods as the Python API, over HTTP and JSON.

Every route is one `Provider` call.  Bodies are JSON objects; a bad field answers 400 with
``{"error": "invalid_request", "error_description": "<field>: expected ..."}``.  With a control
token set, every route but ``health`` needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, request

from mockidp.core.checks import check_client_keys
from mockidp.core.errors import MockIdPError, OAuthError
from mockidp.core.fields import CLIENT_FIELDS, USER_FIELDS, USER_KEYS, shown
from mockidp.core.journal import FILTER_FIELDS
from mockidp.core.model import Client, User
from mockidp.core.version import __version__
from mockidp.http.body import decode_json
from mockidp.provider import Provider
from mockidp.scripting.rules import Rule
from mockidp.web.openapi import openapi_document
from mockidp.web.protocol_openapi import protocol_openapi_document
from mockidp.web.render import json_response

PREFIX = "/_mockidp"
MINT_FIELDS = ("sub", "claims", "audience", "expires_in", "issuer", "client_id", "scope", "alg",
               "remove", "typ", "skew")
MINT_BAD_FIELDS = ("kind", *[f for f in MINT_FIELDS if f not in ("typ", "skew")])


class ControlError(OAuthError):
    """A bad control API request (400 ``invalid_request``)."""


def _body() -> dict[str, Any]:
    """The JSON object a control request sends (an empty body is an empty object)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    if request.mimetype != "application/json":
        raise ControlError(f"expected Content-Type application/json, got "
                           f"{request.mimetype or 'none'}")
    body, problem = decode_json(raw, finite=False)  # a NaN is refused naming its field
    if problem is not None:
        raise ControlError(problem)
    if not isinstance(body, dict):
        raise ControlError("body: expected a JSON object")
    return body


def _only(body: Mapping[str, Any], allowed: tuple[str, ...], what: str) -> None:
    for key in body:
        if key not in allowed:
            raise ControlError(f"{what}.{key}: unknown field; expected one of: "
                               + ", ".join(allowed))


def _issuer_arg(body: Mapping[str, Any] | None = None) -> str:
    if body is not None and "issuer" in body:
        value = body["issuer"]
    else:
        value = request.args.get("issuer", "default")
    if not isinstance(value, str) or not value:
        raise ControlError(f"issuer: expected an issuer name, got {value!r}")
    return value


def _base_url() -> str:
    """The URL this request came in on: a token minted here names the issuer URL that
    discovery and the token endpoint name for a request there (unless a public URL is set)."""
    return request.host_url.rstrip("/")


def user_json(user: User) -> dict[str, Any]:
    """A user as the control API shows it: the table's fields for this door, no password."""
    return {"id": user.id, "sub": user.subject, **shown(USER_FIELDS, user, "control")}


def client_json(client: Client) -> dict[str, Any]:
    """A client as the control API shows it: the table's fields for this door, no secret."""
    return {"id": client.id, **shown(CLIENT_FIELDS, client, "control")}


def rule_json(rule: Rule, with_reason: bool = False) -> dict[str, Any]:
    out = rule.as_json()
    if with_reason:
        out["reason"] = rule.not_fired_reason()
    return out


def create_control_blueprint(idp: Provider) -> Blueprint:
    """The ``/_mockidp`` blueprint for ``idp``."""
    bp = Blueprint("control", __name__, url_prefix=PREFIX)

    @bp.before_request
    def require_token() -> Response | None:
        token = idp.control_token
        if token is None or request.endpoint == "control.health":
            return None
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(),
                                                              token.encode()):
            return None
        response = json_response(
            {"error": "invalid_token",
             "error_description": "the control API needs 'Authorization: Bearer <control token>'"},
            401, no_store=True)
        response.headers["WWW-Authenticate"] = 'Bearer realm="mockidp-control"'
        return response

    @bp.errorhandler(MockIdPError)
    def misuse(error: MockIdPError) -> Response:
        return json_response({"error": "invalid_request", "error_description": str(error)}, 400,
                             no_store=True)

    @bp.get("/")
    def index() -> Response:
        """What the banner's ``Control:`` URL shows: the routes and where they are described."""
        document = openapi_document()
        routes = [f"{method.upper()} {path}" for path, item in document["paths"].items()
                  for method in item]
        return json_response({"service": "mockidp control API", "version": __version__,
                              "openapi": PREFIX + "/openapi.json", "dashboard": "/",
                              "routes": routes})

    @bp.get("/health")
    def health() -> Response:
        """Up, which process answered (``pid``: the workers of ``--workers N`` differ) and
        the store: ``{"kind": "memory" | "redis", "reachable": bool}`` (with ``url``, its
        password hidden, ``listening`` for Redis, and ``error`` when lost).  An unreachable
        store: 503, ``status`` ``unavailable``, until it answers again."""
        status = idp.store_status()
        store = {"kind": status["store"], **{k: v for k, v in status.items() if k != "store"}}
        body: dict[str, Any] = {"status": "ok" if store["reachable"] else "unavailable",
                                "version": __version__, "pid": os.getpid(), "store": store}
        if not store["reachable"]:  # also an RFC 6749 error body, as every 503 here
            return json_response({"error": "temporarily_unavailable", "error_description":
                                  "the shared store is unreachable", **body}, 503, no_store=True)
        body["issuers"] = idp.issuers()
        return json_response(body, no_store=True)

    @bp.post("/reset")
    def reset() -> Response:
        idp.reset()
        return json_response({"status": "reset"})

    @bp.get("/openapi.json")
    def openapi() -> Response:
        return json_response(openapi_document())

    @bp.get("/protocol-openapi.json")
    def protocol_openapi() -> Response:
        return json_response(protocol_openapi_document())

    # -- users and clients --------------------------------------------------------------------
    @bp.get("/users")
    def list_users() -> Response:
        users = idp.users(_issuer_arg())
        return json_response({"users": [user_json(u) for u in users.values()]})

    @bp.post("/users")
    def add_user() -> Response:
        body = _body()
        _only(body, ("id", *USER_KEYS, "issuer"), "user")
        if not isinstance(body.get("id"), str) or not body["id"]:
            raise ControlError(f"user.id: expected a non-empty string, got {body.get('id')!r}")
        user = idp.add_user(body["id"], body.get("claims"), password=body.get("password"),
                            issuer=_issuer_arg(body))
        return json_response(user_json(user), 201)

    @bp.delete("/users/<user_id>")
    def remove_user(user_id: str) -> Response:
        if not idp.remove_user(user_id, issuer=_issuer_arg()):
            return json_response({"error": "not_found",
                                  "error_description": f"no user {user_id!r}"}, 404)
        return Response(status=204)

    @bp.get("/clients")
    def list_clients() -> Response:
        clients = idp.clients(_issuer_arg())
        return json_response({"clients": [client_json(c) for c in clients.values()]})

    @bp.post("/clients")
    def add_client() -> Response:
        body = _body()
        if not isinstance(body.get("id"), str) or not body["id"]:
            raise ControlError(f"client.id: expected a non-empty string, got {body.get('id')!r}")
        issuer = _issuer_arg(body)
        # null is absent (as for add_client); names are checked before they become keyword
        # arguments (a "client_id" or "self" member would clash with add_client's own)
        spec = {k: v for k, v in body.items()
                if k not in ("id", "issuer", "secret") and v is not None}
        check_client_keys(body["id"], spec)
        client = idp.add_client(body["id"], body.get("secret"), issuer=issuer, **spec)
        return json_response(client_json(client), 201)

    @bp.delete("/clients/<client_id>")
    def remove_client(client_id: str) -> Response:
        if not idp.remove_client(client_id, issuer=_issuer_arg()):
            return json_response({"error": "not_found",
                                  "error_description": f"no client {client_id!r}"}, 404)
        return Response(status=204)

    # -- rules --------------------------------------------------------------------------------
    @bp.get("/rules")
    def list_rules() -> Response:
        return json_response({"rules": [rule_json(r) for r in idp.list_rules()]})

    @bp.post("/rules")
    def add_rule() -> Response:
        return json_response(rule_json(idp.add_rule(_body())), 201)

    @bp.delete("/rules")
    def clear_rules() -> Response:
        idp.clear_rules()
        return Response(status=204)

    @bp.get("/rules/unfired")
    def unfired_rules() -> Response:
        return json_response({"rules": [rule_json(r, True) for r in idp.unfired_rules()]})

    @bp.get("/rules/<rule_id>")
    def get_rule(rule_id: str) -> Response:
        rule = idp.rules.get(rule_id)
        if rule is None:
            return json_response({"error": "not_found",
                                  "error_description": f"no rule {rule_id!r}"}, 404)
        return json_response(rule_json(rule, True))

    @bp.delete("/rules/<rule_id>")
    def remove_rule(rule_id: str) -> Response:
        if not idp.remove_rule(rule_id):
            return json_response({"error": "not_found",
                                  "error_description": f"no rule {rule_id!r}"}, 404)
        return Response(status=204)

    # -- clock --------------------------------------------------------------------------------
    @bp.get("/clock")
    def get_clock() -> Response:
        return json_response(idp.clock_state())

    @bp.post("/clock")
    def set_clock() -> Response:
        body = _body()
        _only(body, ("skew", "freeze", "advance", "reset"), "clock")
        reset = body.get("reset", False)
        if not isinstance(reset, bool):
            raise ControlError(f"clock.reset: expected true or false, got {reset!r}")
        return json_response(idp.set_clock(skew=body.get("skew"), freeze=body.get("freeze"),
                                           advance=body.get("advance"), reset=reset))

    # -- journal ------------------------------------------------------------------------------
    @bp.get("/journal")
    def journal() -> Response:
        filters: dict[str, Any] = {}
        limit = None
        for name, value in request.args.items():
            if name == "limit":
                if not value.isdigit():
                    raise ControlError(f"limit: expected a whole number, got {value!r}")
                limit = int(value)
            elif name == "status":
                if not value.isdigit():
                    raise ControlError(f"status: expected an HTTP status, got {value!r}")
                filters["status"] = int(value)
            elif name.startswith("params.") and len(name) > len("params."):
                filters.setdefault("params", {})[name[len("params."):]] = value
            elif name in FILTER_FIELDS and name != "params":
                filters[name] = value
            else:
                fields = [f for f in FILTER_FIELDS if f != "params"]
                raise ControlError(f"{name}: unknown filter; expected one of: "
                                   + ", ".join((*fields, "params.<name>", "limit")))
        calls = idp.calls(**filters)
        if limit is not None:
            calls = calls[-limit:] if limit else []
        return json_response({"calls": [c.as_dict() for c in calls]})

    @bp.delete("/journal")
    def clear_journal() -> Response:
        idp.journal.clear()
        return Response(status=204)

    # -- keys ---------------------------------------------------------------------------------
    @bp.get("/keys")
    def list_keys() -> Response:
        return json_response({"keys": idp.keys(_issuer_arg())})

    @bp.post("/keys/rotate")
    def rotate_keys() -> Response:
        body = _body()
        _only(body, ("issuer", "alg"), "rotate")
        new = idp.rotate_keys(_issuer_arg(body), body.get("alg"))
        return json_response({"rotated": new, "keys": idp.keys(_issuer_arg(body))})

    @bp.post("/keys/retire")
    def retire_keys() -> Response:
        body = _body()
        _only(body, ("issuer", "kid"), "retire")
        removed = idp.retire_keys(_issuer_arg(body), body.get("kid"))
        return json_response({"retired": removed, "keys": idp.keys(_issuer_arg(body))})

    # -- device flow (RFC 8628) ---------------------------------------------------------------
    @bp.post("/device/approve")
    def approve_device() -> Response:
        body = _body()
        _only(body, ("user_code", "user", "claims", "issuer"), "device")
        return json_response(idp.approve_device(body.get("user_code"), body.get("user", "alice"),
                                                body.get("claims"), issuer=_issuer_arg(body)))

    @bp.post("/device/deny")
    def deny_device() -> Response:
        body = _body()
        _only(body, ("user_code", "issuer"), "device")
        return json_response(idp.deny_device(body.get("user_code"), issuer=_issuer_arg(body)))

    # -- minting ------------------------------------------------------------------------------
    @bp.post("/mint")
    def mint() -> Response:
        body = _body()
        _only(body, MINT_FIELDS, "mint")
        return json_response({"token": idp.mint(**body, base_url=_base_url())})

    @bp.get("/bad-tokens")
    def bad_tokens() -> Response:
        return json_response({"kinds": idp.bad_token_kinds()})

    @bp.post("/mint-bad")
    def mint_bad() -> Response:
        body = _body()
        _only(body, MINT_BAD_FIELDS, "mint_bad")
        if "kind" not in body:
            raise ControlError("mint_bad.kind: expected one of " + ", ".join(
                idp.bad_token_kinds()))
        kind = body.pop("kind")
        return json_response({"kind": kind, "token": idp.mint_bad(kind, **body,
                                                                  base_url=_base_url())})

    # -- token debugger -----------------------------------------------------------------------
    @bp.post("/inspect")
    def inspect() -> Response:
        body = _body()
        _only(body, ("token",), "inspect")
        token = body.get("token")
        if not isinstance(token, str):
            raise ControlError(f"inspect.token: expected the token as a string, got {token!r}")
        return json_response(idp.inspect_token(token, request.host_url.rstrip("/")))

    return bp
