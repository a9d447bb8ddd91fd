"""The connection to the shared store: a Redis URL checked and reached at start (a clear
error naming the URL otherwise), and the one translation of a lost connection into the
protocol's answer, RFC 6749 §5.2 ``temporarily_unavailable`` (503)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from mockidp.core.errors import MockIdPError, TemporarilyUnavailable

SCHEMES = ("redis", "rediss", "unix")
CONNECT_TIMEOUT = 2.0  # seconds to reach Redis (at start, and again after it was lost)
COMMAND_TIMEOUT = 5.0  # seconds one command may take before the request answers 503
# a command whose connection failed is sent again this many times, after a random wait of up
# to 0.1, 0.2, 0.4 s: a blip or a restart is ridden over, a store that stays down answers 503
# within a second (redis-py's own default waits up to 14 s).  A script sent again takes
# effect once (`mockidp.shared.once`).
RETRIES = 3
BACKOFF_BASE, BACKOFF_CAP = 0.05, 0.5
PREFIX = "mockidp:"  # every key this package writes starts with it


def check_url(url: object, where: str) -> str:
    """``url`` if it is a Redis URL (``redis://``, ``rediss://``, ``unix://``), else a
    `MockIdPError` naming ``where`` and what was expected."""
    if not isinstance(url, str) or urlsplit(url).scheme not in SCHEMES or "://" not in url:
        raise MockIdPError(f"{where}: expected a Redis URL such as redis://127.0.0.1:6379/0 "
                           f"(redis://, rediss:// or unix://), got {url!r}")
    return url


def redacted(url: str) -> str:
    """``url`` without its password (for messages and the banner)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (
        f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def connect(url: str, where: str = "store", retries: int = RETRIES) -> Any:
    """A `redis.Redis` client for ``url`` that has answered a PING; `MockIdPError` naming the
    URL when it cannot be reached (or redis-py is not installed).  ``retries``: how often a
    command whose connection failed is sent again (0 for the bus's subscriber, which must
    learn at once that it may have missed a message)."""
    check_url(url, where)
    try:
        import redis
        from redis.backoff import ExponentialWithJitterBackoff
        from redis.retry import Retry
    except ImportError:
        raise MockIdPError(f"{where}: the shared store needs redis-py: "
                           "pip install 'mockidp[redis]'") from None
    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=COMMAND_TIMEOUT,
            health_check_interval=0,
            retry=Retry(ExponentialWithJitterBackoff(cap=BACKOFF_CAP, base=BACKOFF_BASE), retries,
                        supported_errors=(redis.ConnectionError, redis.TimeoutError)))
        client.ping()
    except (redis.RedisError, ValueError, OSError) as exc:
        raise MockIdPError(f"{where}: cannot reach Redis at {redacted(url)}: {exc}") from None
    return client


@contextlib.contextmanager
def reachable() -> Iterator[None]:
    """Inside: a lost or timed-out connection to Redis becomes `TemporarilyUnavailable`
    (the request answers 503; the next one tries to reconnect)."""
    import redis

    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise TemporarilyUnavailable("the shared store is unreachable; try again") from exc
