"""The token debugger: decode a token and judge it the way a careful resource server would,
against this provider's issuers, keys and clock.

RFC 7519 §7.2 (validating a JWT) and §4.1 (registered claims), RFC 7515 §5.2 (validating the
signature), RFC 8725 §3.1-3.2 (``alg: none``, algorithm confusion), RFC 9068 §2.1 and §4
(``typ: at+jwt``), RFC 7516 §9 (a JWE has five parts), RFC 6750 §2.1 and RFC 9449 §7.1 (the
``Bearer`` and ``DPoP`` schemes a pasted token may carry).

`inspect_token` never raises, whatever it is given: a malformed token gets an answer saying
what is wrong with it.  The answer is plain JSON-ready data::

    {"verdict": "valid" | "invalid" | "malformed",
     "summary": "one sentence",
     "format": "jwt" | "opaque" | "refresh_token" | "unknown",
     "kind": "access token" | "ID token" | "logout token" | None,
     "header": {...} | None, "claims": {...} | None,
     "signature": {"status": "verified" | "invalid" | "unknown_kid" | "unsigned"
                             | "not_applicable" | "not_checked",
                   "issuer": name | None, "issuer_url": url | None, "kid": ..., "alg": ...,
                   "detail": "why"},
     "iss": {"value": the claim, "issuer": the issuer of this provider it names, or None},
     "validity": {"status": "valid" | "expired" | "not_yet_valid" | "issued_in_future"
                            | "no_expiry" | "unknown",
                  "now": time, "exp": time, "nbf": time, "iat": time, "detail": "why"},
     "problems": ["what makes it invalid", ...], "notes": ["what is worth knowing", ...]}

where a time is ``{"value": epoch seconds, "iso": "2030-01-01T00:00:00Z", "relative": "in 5 min"}``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from mockidp.core.stores import IssuerStore
from mockidp.tokens.jose import MalformedJose, decode_segment
from mockidp.tokens.keys import KeySet
from mockidp.tokens.signer import ACCESS_TOKEN_TYPES

__all__ = [
    "KNOWN_TYPES", "MAX_TOKEN_LENGTH", "IssuerView", "inspect_token",
    "moment", "normalise",
]

MAX_TOKEN_LENGTH = 16384
KNOWN_TYPES = (*ACCESS_TOKEN_TYPES, "logout+jwt")
_SCHEME = re.compile(r"^(?:bearer|dpop)\s+", re.I)


class IssuerView(Protocol):
    """What the debugger reads of an issuer: its keys and its token store."""

    @property
    def keys(self) -> KeySet: ...

    @property
    def store(self) -> IssuerStore: ...


# -- times ------------------------------------------------------------------------------------

def _relative(delta: float) -> str:
    seconds = abs(delta)
    if seconds < 1:
        return "now"
    if seconds > 100 * 366 * 86400:
        amount = "more than 100 years"
    else:
        whole = int(seconds)
        units = [("d", whole // 86400), ("h", whole % 86400 // 3600),
                 ("min", whole % 3600 // 60), ("s", whole % 60)]
        shown = [f"{n} {unit}" for unit, n in units if n][:2]
        amount = " ".join(shown)
    return f"in {amount}" if delta > 0 else f"{amount} ago"


def moment(value: float, now: float) -> dict[str, Any]:
    """A time for people: epoch seconds, ISO 8601 (UTC) and how far from ``now``."""
    try:
        iso: str | None = datetime.fromtimestamp(value, UTC).isoformat(
            timespec="seconds").replace("+00:00", "Z")
    except (OverflowError, ValueError, OSError):
        iso = None
    return {"value": value, "iso": iso, "relative": _relative(value - now)}


def _finite_seconds(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


# -- the inspection -------------------------------------------------------------------------

class _Report:
    """The answer being built."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.data: dict[str, Any] = {
            "verdict": "invalid",
            "summary": "",
            "format": "unknown",
            "kind": None,
            "header": None,
            "claims": None,
            "signature": {"status": "not_checked", "issuer": None, "issuer_url": None,
                          "kid": None, "alg": None, "detail": ""},
            "iss": {"value": None, "issuer": None},
            "validity": {"status": "unknown", "now": moment(now, now), "exp": None,
                         "nbf": None, "iat": None, "detail": ""},
            "problems": [],
            "notes": [],
        }
        self.malformed: str | None = None

    @property
    def problems(self) -> list[str]:
        problems: list[str] = self.data["problems"]
        return problems

    @property
    def notes(self) -> list[str]:
        notes: list[str] = self.data["notes"]
        return notes

    def fail(self, why: str) -> None:
        self.malformed = why
        self.problems.insert(0, why)

    def result(self) -> dict[str, Any]:
        data = self.data
        signature = data["signature"]
        if self.malformed is not None:
            data["verdict"] = "malformed"
            data["summary"] = f"Malformed: {self.malformed}."
        elif self.problems:
            data["verdict"] = "invalid"
            data["summary"] = "Invalid: " + "; ".join(self.problems) + "."
        else:
            data["verdict"] = "valid"
            what = data["kind"] or "token"
            if signature["status"] == "verified":
                source = (f"signed by issuer '{signature['issuer']}' with key "
                          f"{signature['kid']} ({signature['alg']})")
            else:
                source = signature["detail"].rstrip(".")
            until = data["validity"]["exp"]
            when = f" until {until['iso'] or until['value']} ({until['relative']})" \
                if until else ""
            data["summary"] = f"Valid {what}: {source}; valid on the provider clock{when}."
        return data


def inspect_token(
    token: Any,
    issuers: Mapping[str, IssuerView],
    issuer_urls: Callable[[str], tuple[str, ...]],
    now: float,
) -> dict[str, Any]:
    """Judge ``token`` against ``issuers`` (name → an issuer's keys and store), their
    identifiers (``issuer_urls(name)``, the first one preferred) and the provider time
    ``now``.  Never raises; see the module docstring for the answer's shape."""
    report = _Report(now)
    try:
        _inspect(report, token, issuers, issuer_urls)
    except Exception as exc:  # the debugger answers whatever it is given: a last resort
        report.fail(f"it could not be inspected ({type(exc).__name__}: {exc})")
    return report.result()


def normalise(token: str) -> str:
    """The token as pasted, without surrounding or wrapped whitespace and without an
    ``Authorization`` scheme (``Bearer``, ``DPoP``) in front."""
    return "".join(_SCHEME.sub("", token.strip()).split())


def _inspect(report: _Report, token: Any, issuers: Mapping[str, IssuerView],
             issuer_urls: Callable[[str], tuple[str, ...]]) -> None:
    if not isinstance(token, str):
        report.fail("expected the token as text")
        return
    text = normalise(token)
    if not text:
        report.fail("there is no token: paste a JWT (three base64url parts separated by dots)")
        return
    if len(text) > MAX_TOKEN_LENGTH:
        report.fail(f"it is {len(text)} characters long; tokens of this provider are far "
                    f"shorter (at most {MAX_TOKEN_LENGTH} are inspected)")
        return
    parts = text.split(".")
    if len(parts) == 1:
        _inspect_opaque(report, text, issuers, issuer_urls)
        return
    if len(parts) == 5:
        report.fail("it has five parts: it looks like an encrypted JWT (JWE), and mockidp "
                    "only issues signed JWTs (JWS)")
        return
    if len(parts) != 3:
        report.fail(f"it has {len(parts)} parts; a JWT has exactly three base64url parts "
                    "separated by dots (header.payload.signature)")
        return
    report.data["format"] = "jwt"
    try:
        header = decode_segment(parts[0], "header")
    except MalformedJose as exc:
        report.fail(str(exc))
        return
    report.data["header"] = header
    payload_error: str | None = None
    claims: dict[str, Any] = {}
    try:
        claims = decode_segment(parts[1], "payload")
    except MalformedJose as exc:
        payload_error = str(exc)
    signed_by = _check_signature(report, text, header, issuers, issuer_urls)
    if payload_error is not None:
        report.fail(payload_error)
        return
    report.data["claims"] = claims
    _check_type(report, header, claims)
    _check_iss(report, claims, signed_by, issuers, issuer_urls)
    _check_times(report, claims)
    _check_claims(report, claims, issuers.get(signed_by) if signed_by else None)


def _check_signature(report: _Report, token: str, header: Mapping[str, Any],
                     issuers: Mapping[str, IssuerView],
                     issuer_urls: Callable[[str], tuple[str, ...]]) -> str | None:
    """Fill in ``signature``; the name of the issuer whose key verified it, or None."""
    import jwt  # PyJWT: the token debugger checks signatures with it

    signature = report.data["signature"]
    alg, kid = header.get("alg"), header.get("kid")
    signature["alg"] = alg if isinstance(alg, str) else None
    signature["kid"] = kid if isinstance(kid, str) else None
    if not isinstance(alg, str) or not alg:
        signature.update(status="invalid", detail="the header has no alg")
        report.problems.append("the header has no alg")
        return None
    if alg.lower() == "none":
        signature.update(status="unsigned",
                         detail="alg is 'none': the token carries no signature at all")
        report.problems.append("it is unsigned (alg 'none'); never accept such a token")
        return None
    if not isinstance(kid, str) or not kid:
        why = ("the header names no key (kid); this provider always does, so it did not sign "
               "this token")
        signature.update(status="unknown_kid", detail=why)
        report.problems.append(why)
        return None
    for name, issuer in issuers.items():
        key = issuer.keys.find(kid)
        if key is None:
            continue
        signature.update(issuer=name, issuer_url=issuer_urls(name)[0])
        if alg != key.alg:
            why = (f"the header says alg {alg} but key {kid} of issuer '{name}' is for "
                   f"{key.alg}: algorithm confusion (such as HS256 keyed with the public "
                   "key)")
            signature.update(status="invalid", detail=why)
            report.problems.append(why)
            return None
        try:
            jwt.PyJWS().decode(token, key.public_key, algorithms=[key.alg])
        except jwt.PyJWTError as exc:
            why = f"the signature does not verify against key {kid} of issuer '{name}'"
            signature.update(status="invalid", detail=f"{why} ({exc})")
            report.problems.append(why)
            return None
        signature.update(status="verified",
                         detail=f"verified with key {kid} ({key.alg}) of issuer '{name}'")
        return name
    why = (f"no issuer of this provider publishes a key with kid {kid} (a key that was never "
           "published, or one retired with retire_keys)")
    signature.update(status="unknown_kid", detail=why)
    report.problems.append(why)
    return None


def _check_type(report: _Report, header: Mapping[str, Any], claims: Mapping[str, Any]) -> None:
    typ = header.get("typ")
    if typ is None:
        report.notes.append("no typ header: a plain JWT")
    elif typ not in KNOWN_TYPES:
        report.problems.append(f"typ {typ!r} is not a token type this provider issues ("
                               + ", ".join(KNOWN_TYPES) + ")")
    if typ == "logout+jwt":
        report.data["kind"] = "logout token"
    elif typ == "at+jwt" or any(name in claims for name in ("client_id", "scope", "scp")):
        report.data["kind"] = "access token"
    elif any(name in claims for name in ("nonce", "auth_time", "at_hash", "c_hash")):
        report.data["kind"] = "ID token"
    if typ == "at+jwt":
        report.notes.append("typ at+jwt: an RFC 9068 access token")


def _check_iss(report: _Report, claims: Mapping[str, Any], signed_by: str | None,
               issuers: Mapping[str, IssuerView],
               issuer_urls: Callable[[str], tuple[str, ...]]) -> None:
    iss = claims.get("iss")
    named = next((name for name in issuers if isinstance(iss, str) and iss in issuer_urls(name)),
                 None)
    report.data["iss"] = {"value": iss, "issuer": named}
    if iss is None:
        report.problems.append("there is no iss claim")
        return
    if signed_by is not None and named != signed_by:
        report.problems.append(f"iss is {iss!r}, but the token is signed by issuer "
                               f"'{signed_by}', whose identifier is {issuer_urls(signed_by)[0]}")
    elif signed_by is None and named is not None:
        report.notes.append(f"iss names issuer '{named}' of this provider")
    elif named is None and signed_by is None:
        report.notes.append(f"iss {iss!r} is not an issuer of this provider")


def _check_times(report: _Report, claims: Mapping[str, Any]) -> None:
    now = report.now
    validity = report.data["validity"]
    values = {}
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if value is None:
            continue
        if not _finite_seconds(value):
            report.problems.append(f"{name} is not a number of seconds: {value!r}")
            continue
        values[name] = float(value)
        validity[name] = moment(value, now)
    exp, nbf, iat = values.get("exp"), values.get("nbf"), values.get("iat")
    clock = f"the provider clock says {validity['now']['iso']}"
    if exp is not None and now >= exp:
        status, why = "expired", f"it expired {validity['exp']['relative']} ({clock})"
    elif nbf is not None and now < nbf:
        status, why = "not_yet_valid", \
            f"it is not valid yet: nbf is {validity['nbf']['relative']} ({clock})"
    elif iat is not None and now < iat:
        status, why = "issued_in_future", \
            f"it was issued in the future: iat is {validity['iat']['relative']} ({clock})"
    elif "exp" not in claims:
        status, why = "no_expiry", "there is no exp claim: it never expires"
    else:
        status, why = "valid", "within its validity period on the provider clock"
        if exp is not None:
            why += f": it expires {validity['exp']['relative']}"
        validity.update(status=status, detail=why)
        return
    validity.update(status=status, detail=why)
    report.problems.append(why)


def _check_claims(report: _Report, claims: Mapping[str, Any], issuer: IssuerView | None) -> None:
    if report.data["kind"] != "logout token" and "sub" not in claims:
        report.problems.append("there is no sub claim")
    jti = claims.get("jti")
    if issuer is not None and isinstance(jti, str) and issuer.store.is_revoked(jti):
        report.problems.append(f"it was revoked (jti {jti}); introspection answers inactive")
    aud = claims.get("aud")
    if aud is not None:
        shown = ", ".join(aud) if isinstance(aud, list) and all(
            isinstance(a, str) for a in aud) else str(aud)
        report.notes.append(f"audience: {shown} (the resource server checks that it is one "
                            "of them)")


def _inspect_opaque(report: _Report, token: str, issuers: Mapping[str, IssuerView],
                    issuer_urls: Callable[[str], tuple[str, ...]]) -> None:
    """A token without dots: an opaque access token or a refresh token of this provider."""
    signature = report.data["signature"]
    for name, issuer in issuers.items():
        found = issuer.store.get_opaque(token, report.now)
        if found is not None:
            claims = dict(found)
            report.data.update(format="opaque", kind="access token", claims=claims)
            signature.update(status="not_applicable", issuer=name,
                             issuer_url=issuer_urls(name)[0],
                             detail=f"an opaque access token of issuer '{name}': it has no "
                                    "signature; the provider resolves it (introspection, "
                                    "userinfo)")
            _check_iss(report, claims, name, issuers, issuer_urls)
            _check_times(report, claims)
            _check_claims(report, claims, issuer)
            return
        refresh = issuer.store.get_refresh(token, report.now)
        if refresh is not None:
            claims = {"client_id": refresh.client_id, "sub": refresh.sub,
                      "scope": " ".join(refresh.scopes), "iat": int(refresh.issued_at),
                      "exp": int(refresh.expires_at)}
            report.data.update(format="refresh_token", kind="refresh token", claims=claims)
            signature.update(status="not_applicable", issuer=name,
                             issuer_url=issuer_urls(name)[0],
                             detail=f"a refresh token of issuer '{name}' for client "
                                    f"'{refresh.client_id}': it has no signature; only the "
                                    "token endpoint takes it")
            _check_times(report, claims)
            return
    report.fail("it is not a JWT (a JWT has three base64url parts separated by dots: "
                "header.payload.signature), nor an opaque access token or refresh token this "
                "provider issued and still holds")
