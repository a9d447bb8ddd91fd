"""The issuers a configuration declares with a named provider's profile: each one's profile
and options, checked against the profile (a bad profile, option or clashing mount names the
file and field)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from mockidp.core.errors import MockIdPError
from mockidp.core.settings import PROFILE_KEYS, Settings
from mockidp.profiles import Profile
from mockidp.profiles.catalog import PROFILES


def declared_profiles(settings: Settings) -> dict[str, tuple[Profile, Mapping[str, Any]]]:
    """The issuers of ``settings`` that imitate a named provider: their profile and options
    (defaults filled in).  A bad profile, option or clashing mount raises `MockIdPError`
    naming the file and field."""
    found: dict[str, tuple[Profile, Mapping[str, Any]]] = {}
    taken: dict[str, str] = {}
    for name, own in settings.issuers.items():
        kind = own.get("profile", "generic")
        where = f"{settings.source}: issuers.{name}"
        profile = PROFILES.get(kind)
        if profile is None:
            raise MockIdPError(f"{where}.profile: expected one of {', '.join(PROFILES)}, "
                               f"got {kind!r}")
        given = {k: own[k] for k in PROFILE_KEYS[1:] if k in own}
        for key in given:
            if key not in profile.options:
                takes = ", ".join(profile.options) or "none"
                raise MockIdPError(f"{where}.{key}: the {kind} profile takes no {key!r} "
                                   f"(its options: {takes})")
        if not profile.fixed:
            continue
        options = {**{k: v for k, v in profile.options.items() if v is not None},
                   **profile.option_defaults(name), **given}
        try:
            profile.check(options)
        except ValueError as exc:
            raise MockIdPError(f"{where}.{exc}") from None
        profile = profile.for_options(options)  # its paths from the root are claimed too
        for mount in (*profile.mounts(name, options), *profile.root_paths.values()):
            if mount in taken:
                raise MockIdPError(f"{where}: mount {mount or '/'!r} is already issuer "
                                   f"'{taken[mount]}'s; give one of them another mount")
            taken[mount] = name
        found[name] = (profile, MappingProxyType(options))
    return found
