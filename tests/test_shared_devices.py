"""RFC 8628 device authorization state on Redis answers as in memory: create (and scripted
answers), pending by any spelling of the user code, answer (a code, or the oldest waiting),
peek, and poll with slow_down, authorization_pending, expired_token, access_denied and the
approved request redeemed exactly once, also by 32 threads over two connections."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from mockidp.core.device_codes import DeviceAnswer, Devices, DeviceStore
from mockidp.core.errors import (
    AccessDenied,
    AuthorizationPending,
    ExpiredToken,
    InvalidGrant,
    OAuthError,
    SlowDown,
)
from mockidp.shared.connection import connect
from mockidp.shared.devices import RedisDeviceStore
from mockidp.shared.issuer_store import key_base

from .redis_server import RedisServer
from .test_shared_issuer_store import FROZEN, race

Make = Callable[[], Devices]


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest) -> Make:
    if request.param == "memory":
        return DeviceStore
    server = request.getfixturevalue("shared_redis")
    base = key_base(uuid.uuid4().hex, "default")
    return lambda: RedisDeviceStore(connect(server.url), base)


def error_of(call: Callable[[], object]) -> tuple[str, str]:
    with pytest.raises(OAuthError) as raised:
        call()
    return raised.value.error, raised.value.description


def test_create_pending_and_answer(make: Make) -> None:
    devices = make()
    made = devices.create("tv", ("openid", "offline_access"), ("api",), FROZEN, 600, 5)
    assert made.status == "pending" and made.expires_at == FROZEN + 600
    assert made.interval == 5 and len(made.user_code) == 8 and len(devices) == 1
    typed = made.user_code[:4].lower() + "-" + made.user_code[4:].lower()
    assert devices.pending(typed, FROZEN) == made
    assert devices.pending(made.user_code, FROZEN + 600) is None
    assert devices.pending("BCDFGHJK", FROZEN) is None
    answered = devices.answer(typed, DeviceAnswer(True, "alice", {"amr": ["pwd"]}), FROZEN + 1)
    assert answered is not None and answered.status == "approved"
    assert answered.user_id == "alice" and answered.login_claims == {"amr": ["pwd"]}
    assert answered.auth_time == int(FROZEN + 1)
    assert devices.pending(made.user_code, FROZEN) is None  # answered already
    assert devices.answer(made.user_code, DeviceAnswer(False), FROZEN) is None
    assert devices.peek(made.device_code) == answered and devices.peek("nope") is None


def test_the_oldest_waiting_and_scripted_answers(make: Make) -> None:
    devices = make()
    first = devices.create("tv", (), (), FROZEN, 600, 5)
    second = devices.create("tv", (), (), FROZEN, 600, 5)
    done = devices.answer(None, DeviceAnswer(False), FROZEN)
    assert done is not None and done.device_code == first.device_code
    assert done.status == "denied"
    done = devices.answer(None, DeviceAnswer(True, "bob"), FROZEN)
    assert done is not None and done.device_code == second.device_code
    assert devices.answer(None, DeviceAnswer(True), FROZEN) is None
    assert devices.script(DeviceAnswer(True, "carol", {"acr": "1"}))
    assert devices.script(DeviceAnswer(False))
    approved = devices.create("tv", (), (), FROZEN, 600, 5)
    denied = devices.create("tv", (), (), FROZEN, 600, 5)
    assert (approved.status, approved.user_id, approved.login_claims) == (
        "approved", "carol", {"acr": "1"})
    assert denied.status == "denied"
    assert devices.create("tv", (), (), FROZEN, 600, 5).status == "pending"
    assert all(devices.script(DeviceAnswer(True)) for _ in range(100))
    assert not devices.script(DeviceAnswer(True))


def test_polling(make: Make) -> None:
    devices = make()
    made = devices.create("tv", ("openid",), (), FROZEN, 600, 5)
    code = made.device_code
    assert error_of(lambda: devices.poll("nope", "tv", FROZEN)) == (
        "invalid_grant", "device_code is unknown")
    assert error_of(lambda: devices.poll(code, "other", FROZEN)) == (
        "invalid_grant", "device_code was issued to another client")
    assert error_of(lambda: devices.poll(code, "tv", FROZEN + 1))[0] == (
        "authorization_pending")
    with pytest.raises(SlowDown) as slow:
        devices.poll(code, "tv", FROZEN + 3)
    assert slow.value.description == ("polled 2.0 s after the previous request; wait at "
                                      "least 10 s between requests")
    with pytest.raises(AuthorizationPending):
        devices.poll(code, "tv", FROZEN + 12.96)  # 9.96 s: within the tolerance
    devices.answer(made.user_code, DeviceAnswer(True, "alice"), FROZEN + 20)
    won = devices.poll(code, "tv", FROZEN + 30)
    assert won.status == "redeemed" and won.user_id == "alice"
    assert won.last_poll == FROZEN + 30 and won.interval == 10
    assert error_of(lambda: devices.poll(code, "tv", FROZEN + 60)) == (
        "invalid_grant", "device_code was already used to obtain tokens")


def test_denied_and_expired(make: Make) -> None:
    devices = make()
    denied = devices.create("tv", (), (), FROZEN, 600, 5)
    devices.answer(denied.user_code, DeviceAnswer(False), FROZEN)
    with pytest.raises(AccessDenied):
        devices.poll(denied.device_code, "tv", FROZEN)
    late = devices.create("tv", (), (), FROZEN, 600, 5)
    with pytest.raises(ExpiredToken):
        devices.poll(late.device_code, "tv", FROZEN + 600)
    assert devices.answer(late.user_code, DeviceAnswer(True), FROZEN + 600) is None


def test_an_approved_request_is_redeemed_once_by_32_threads_over_two_connections(
        shared_redis: RedisServer) -> None:
    base = key_base(uuid.uuid4().hex, "default")
    views = [RedisDeviceStore(connect(shared_redis.url), base) for _ in range(2)]
    made = views[0].create("tv", (), (), FROZEN, 600, 0)
    views[1].answer(made.user_code, DeviceAnswer(True, "alice"), FROZEN)

    def poll(n: int) -> str:
        try:
            return views[n % 2].poll(made.device_code, "tv", FROZEN + 1).status
        except InvalidGrant as exc:
            return exc.description

    answers = race(32, poll)
    assert answers.count("redeemed") == 1
    assert set(answers) == {"redeemed", "device_code was already used to obtain tokens"}
