"""What the login page offers (OIDC Core §3.1.2.3, authenticating the end-user): the
configured users to pick in one click, and the usernames this browser logged in as lately.

The core decides what is remembered (`remember_login`) and what is shown (`user_choices`,
`other_recent`); the web layer only keeps the list in a cookie and hands it back as
`EndpointRequest.recent`.  Whatever comes back is checked again (`recent_logins`): a cookie is
user input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mockidp.core.model import User, UserChoice

RECENT_MAX = 5  # usernames remembered per issuer and browser
RECENT_MAX_LENGTH = 100  # longer usernames are not remembered


def recent_logins(values: Iterable[Any]) -> tuple[str, ...]:
    """The usable part of a remembered list: non-empty printable strings of at most
    `RECENT_MAX_LENGTH` characters, without repeats, at most `RECENT_MAX` of them."""
    out: list[str] = []
    for value in values:
        if (isinstance(value, str) and value.strip() == value and value
                and len(value) <= RECENT_MAX_LENGTH and value.isprintable()
                and value not in out):
            out.append(value)
        if len(out) == RECENT_MAX:
            break
    return tuple(out)


def remember_login(previous: Iterable[Any], username: str) -> tuple[str, ...]:
    """The list to remember after logging in as ``username``: it first, then the others."""
    return recent_logins([username, *(p for p in previous if p != username)])


def user_choices(users: Mapping[str, User], recent: Iterable[Any]) -> tuple[UserChoice, ...]:
    """One button per configured user, in configuration order, with the ``name`` and
    ``email`` claims when they are strings."""
    remembered = set(recent_logins(recent))
    choices = []
    for user in users.values():
        name, email = user.claims.get("name"), user.claims.get("email")
        choices.append(UserChoice(
            id=user.id,
            name=name if isinstance(name, str) and name else None,
            email=email if isinstance(email, str) and email else None,
            recent=user.id in remembered,
        ))
    return tuple(choices)


def other_recent(users: Mapping[str, User], recent: Iterable[Any]) -> tuple[str, ...]:
    """Remembered usernames that are not configured users (those are marked on their own
    button instead, so that every username has exactly one button)."""
    return tuple(name for name in recent_logins(recent) if name not in users)
