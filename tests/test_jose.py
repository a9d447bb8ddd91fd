"""The one JOSE codec (`mockidp.tokens.jose`): base64url as RFC 7515 §2 and Appendix C say,
JSON segments decoded strictly, with errors naming the part."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockidp.tokens.jose import (
    MalformedJose,
    b64url_decode,
    b64url_encode,
    compact_json,
    decode_segment,
    header_segment,
    jose_header,
    json_segment,
    json_value,
)


def test_rfc_7515_appendix_c_example() -> None:
    assert b64url_encode(bytes([3, 236, 255, 224, 193])) == "A-z_4ME"
    assert b64url_decode("A-z_4ME") == bytes([3, 236, 255, 224, 193])


@given(st.binary(max_size=64))
def test_base64url_round_trips_without_padding(data: bytes) -> None:
    encoded = b64url_encode(data)
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    assert encoded == base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert b64url_decode(encoded) == data


@pytest.mark.parametrize("segment, why", [
    ("ab+c", "characters other than"),
    ("abc=", "characters other than"),  # padding is not base64url
    ("ab c", "characters other than"),
    ("abcde", "no encoding is 5 characters long"),
])
def test_base64url_decoding_is_strict_and_names_the_part(segment: str, why: str) -> None:
    with pytest.raises(MalformedJose, match=f"the payload is not base64url: .*{why}"):
        b64url_decode(segment, "payload")


def test_compact_json_is_json_dumps_without_whitespace_in_ascii() -> None:
    value = {"sub": "j\u00fcrgen", "aud": ["a", "b"], "n": 1.5, "none": None}
    assert compact_json(value) == '{"sub":"j\\u00fcrgen","aud":["a","b"],"n":1.5,"none":null}'
    assert decode_segment(json_segment(value), "payload") == value
    with pytest.raises(TypeError, match="not JSON serializable"):
        compact_json({"a": object()})


@pytest.mark.parametrize("data, why", [
    (b"\xff", "the header is not UTF-8 text"),
    (b"{", "the header is not JSON"),
    (b"[1]", "the header is JSON but not an object"),
    (b'{"exp": NaN}', "the header is not usable JSON"),
    (b'{"exp": 1e999}', "the header is not usable JSON"),
    (b"[" * 100_000, "the header is"),
])
def test_segments_are_json_objects_with_finite_numbers(data: bytes, why: str) -> None:
    with pytest.raises(MalformedJose, match=why):
        decode_segment(b64url_encode(data), "header")
    assert header_segment(b64url_encode(data)) is None


def test_a_lenient_reader_leaves_number_checks_to_the_caller() -> None:
    assert json_value(b'{"exp": Infinity}', "payload", finite=False) == {"exp": float("inf")}


def test_jose_header_of_a_compact_jws_only() -> None:
    head = json_segment({"alg": "RS256", "typ": "JWT"})
    assert jose_header(f"{head}.e30.sig") == {"alg": "RS256", "typ": "JWT"}
    assert jose_header("opaque-token") is None
    assert jose_header(f"{head}.a.b.c.d") is None  # a JWE
    assert jose_header("!!.e30.sig") is None
