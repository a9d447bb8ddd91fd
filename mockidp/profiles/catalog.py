"""Every profile by name (what ``profile = "..."`` in an issuer's table may say), and the
bad-token kinds they add to the catalogue."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from mockidp.core.model import ENDPOINTS_BY_NAME
from mockidp.profiles import IssuerView, Profile
from mockidp.profiles.auth0 import AUTH0
from mockidp.profiles.cognito import COGNITO
from mockidp.profiles.entra import ENTRA
from mockidp.profiles.generic import GENERIC
from mockidp.profiles.keycloak import KEYCLOAK
from mockidp.profiles.okta import OKTA
from mockidp.tokens.badtokens import BAD_TOKEN_KINDS, make_bad
from mockidp.tokens.keys import KeySet, SigningKey
from mockidp.tokens.signer import sign

PROFILES: Mapping[str, Profile] = MappingProxyType({
    profile.name: profile for profile in (GENERIC, AUTH0, COGNITO, ENTRA, KEYCLOAK, OKTA)
})

# every endpoint name a rule may match: the standard ones, then the profiles' own
ENDPOINT_NAMES: tuple[str, ...] = (*ENDPOINTS_BY_NAME, *dict.fromkeys(
    name for profile in PROFILES.values() for name in profile.extras))

# the bad-token catalogue: the generic kinds, and those each profile's verifiers check
BAD_KIND_OWNERS: Mapping[str, Profile] = MappingProxyType({
    kind: profile for profile in PROFILES.values() for kind in profile.bad_kinds
})
BAD_KINDS: Mapping[str, str] = MappingProxyType({
    **BAD_TOKEN_KINDS,
    **{kind: f"({profile.title}) {profile.bad_kinds[kind]}"
       for kind, profile in BAD_KIND_OWNERS.items()},
})


def make_bad_token(kind: str, claims: dict[str, Any], key: SigningKey, keys: KeySet, now: int,
                   view: IssuerView) -> str:
    """A token of ``kind`` (`BAD_KINDS`) built from good ``claims``: a generic kind
    (`mockidp.tokens.badtokens.make_bad`), or a profile's, whose claims that profile breaks
    (any issuer may hand one out: a Cognito ID token used as an access token is wrong
    everywhere), or the token the profile made itself."""
    owner = BAD_KIND_OWNERS.get(kind)
    if owner is None:
        return make_bad(kind, claims, key, keys, now)
    token = owner.bad_token(kind, claims, view)
    return token if token is not None else sign(claims, key, "JWT")
