"""A keys directory beside a shared store (``--keys-dir`` with ``--store``): the folder seeds
the store and follows it (`mockidp.shared.keys`).  Replicas given a folder of keys publish
those keys; a restarted (empty) Redis gets the same keys back, so a token signed before the
restart still verifies against the JWKS fetched after it; a replica's empty folder receives
the store's keys, and a rotation made at another replica reaches it."""

from __future__ import annotations

from pathlib import Path

import jwt
import requests

from mockidp import MockIdP

from .redis_server import RedisServer

CONFIG = {"clients": {"svc": {"secret": "s", "audience": ["api"]}}}
PUBLIC = "http://idp.example"


def jwks(idp: MockIdP) -> dict[str, object]:
    answer = requests.get(f"{idp.url}/default/jwks", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def kids(keys: dict[str, object]) -> set[str]:
    return {k["kid"] for k in keys["keys"]}  # type: ignore[attr-defined, index]


def token(idp: MockIdP) -> str:
    answer = requests.post(f"{idp.url}/default/token", auth=("svc", "s"), timeout=10,
                           data={"grant_type": "client_credentials"})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]  # type: ignore[no-any-return]


def verifies(access: str, idp: MockIdP) -> bool:
    key = jwt.PyJWKClient(f"{idp.url}/default/jwks").get_signing_key_from_jwt(access)
    return bool(jwt.decode(access, key, algorithms=["RS256"], audience="api"))


def folder_kids(folder: Path) -> set[str]:
    with MockIdP(CONFIG, keys_dir=folder) as alone:  # in memory, from the folder alone
        return kids(jwks(alone))


def test_replicas_publish_the_keys_of_their_folder_and_get_them_back_after_a_restart(
        redis_server: RedisServer, tmp_path: Path) -> None:
    mine = folder_kids(tmp_path / "keys")  # a folder of keys made before
    # each replica with a folder of its own (as the image's /keys volume): B's is empty
    with MockIdP(CONFIG, store=redis_server.url, keys_dir=tmp_path / "keys",
                 public_url=PUBLIC) as a, \
            MockIdP(CONFIG, store=redis_server.url, keys_dir=tmp_path / "b",
                    public_url=PUBLIC) as b:
        assert kids(jwks(a)) == kids(jwks(b)) == mine
        assert folder_kids(tmp_path / "b") == mine  # B's folder received them
        before = token(a)
        redis_server.stop()
        redis_server.start()  # empty: the folder seeds it again
        assert kids(jwks(b)) == kids(jwks(a)) == mine
        assert verifies(before, b) and verifies(token(b), a)


def test_a_folder_follows_the_store_s_keys_and_a_rotation_made_elsewhere(
        redis_server: RedisServer, tmp_path: Path) -> None:
    with MockIdP(CONFIG, store=redis_server.url, public_url=PUBLIC) as a:
        shared = kids(jwks(a))  # made in the store, no folder anywhere
    folder_kids(tmp_path / "b")  # a folder with keys of its own: the store's win
    with MockIdP(CONFIG, store=redis_server.url, public_url=PUBLIC) as a, \
            MockIdP(CONFIG, store=redis_server.url, keys_dir=tmp_path / "b",
                    public_url=PUBLIC) as b:
        assert kids(jwks(b)) == kids(jwks(a)) == shared
        assert folder_kids(tmp_path / "b") == shared
        a.rotate_keys("default")
        rotated = kids(jwks(b))  # the new active keys and the rotated-out ones
        assert rotated > shared
    assert folder_kids(tmp_path / "b") == rotated - shared  # the folder holds the active ones
