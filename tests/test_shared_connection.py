"""The connection to the shared store (a real redis-server): reached at start or refused with
the URL named, and a connection lost later answered as ``temporarily_unavailable``."""

from __future__ import annotations

import pytest

from mockidp.core.errors import MockIdPError, TemporarilyUnavailable
from mockidp.shared.connection import check_url, connect, reachable, redacted

from .redis_server import RedisServer


def test_a_reachable_store_answers(redis_server: RedisServer) -> None:
    client = connect(redis_server.url)
    assert client.ping() is True


def test_an_unreachable_store_is_refused_naming_the_url(redis_server: RedisServer
                                                        ) -> None:
    redis_server.stop()
    with pytest.raises(MockIdPError, match=rf"--store: cannot reach Redis at "
                                           rf"redis://127.0.0.1:{redis_server.port}/0"):
        connect(redis_server.url, "--store")


@pytest.mark.parametrize("url", ["", "localhost:6379", "http://x", 6379, None])
def test_a_url_that_is_no_redis_url_names_the_field(url: object) -> None:
    with pytest.raises(MockIdPError, match=r"MOCKIDP_STORE: expected a Redis URL"):
        check_url(url, "MOCKIDP_STORE")


def test_the_password_is_never_shown() -> None:
    assert redacted("redis://user:s3cret@db:6379/0") == "redis://user:***@db:6379/0"
    with pytest.raises(MockIdPError) as raised:
        connect("redis://:s3cret@127.0.0.1:1/0")
    assert "s3cret" not in str(raised.value)


def test_a_connection_lost_later_is_temporarily_unavailable(redis_server: RedisServer
                                                             ) -> None:
    client = connect(redis_server.url)
    redis_server.stop()
    with pytest.raises(TemporarilyUnavailable) as raised, reachable():
        client.set("mockidp:x", "1")
    assert raised.value.status == 503 and raised.value.error == "temporarily_unavailable"
    redis_server.start()  # and it comes back on its own
    with reachable():
        assert client.set("mockidp:x", "1") is True
