"""Cheap RSA keys for issuers made on first use: products of pooled primes.

Any request can create an issuer (``GET /x1/jwks``), so an issuer must cost next to nothing;
yet its JWKS lists an RS256 key from the start (OpenID Connect Discovery 1.0 §3 makes RS256
mandatory, and resource servers cache the JWKS), and a fresh RSA 2048 key takes about 40 ms of
CPU, nearly all of it spent searching for its two 1024-bit primes.  The other families cost well
under a millisecond together, so the JWKS keeps listing every algorithm.

Instead, the keys of issuers made on first use come from a process-wide pool of primes: every
RSA key generated for the pool adds its two primes, and each key handed out is the product of
two pooled primes never used together before (RFC 8017 §3.2: n = p·q, d = e⁻¹ mod (p-1)(q-1),
with the CRT values).  Each key is a distinct, valid RSA 2048 key, so an issuer's tokens verify
with its own JWKS only; n primes make n(n-1)/2 keys, so 1,000 issuers cost 23 generated keys
(about 1 s of CPU) instead of 1,000 (about 40 s), and a key from the pool takes about 0.2 ms.

Not secret: two of these keys that share a prime are both factored by gcd(n₁, n₂), so whoever
reads the JWKS of two issuers made on first use can sign as either.  They are throwaway keys of
throwaway issuers (never written to a keys directory, forgotten by a reset); declared issuers
and ``default`` always get keys generated in full.
"""

from __future__ import annotations

import threading

from cryptography.hazmat.primitives.asymmetric import rsa

E = 65537
BITS = 2048


class PrimePool:
    """Hands out RSA 2048 keys whose moduli are products of distinct pairs of pooled primes.
    Thread-safe: every key has a pair of its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._primes: list[int] = []
        self._i, self._j = 0, 1  # the next pair: primes[i] with primes[j], i < j

    def key(self) -> rsa.RSAPrivateKey:
        """A new RSA key (a fresh pair of primes; the pool grows when it has none left)."""
        with self._lock:
            while True:
                if self._j >= len(self._primes):
                    numbers = rsa.generate_private_key(public_exponent=E, key_size=BITS)
                    fresh = numbers.private_numbers()
                    self._primes += [fresh.p, fresh.q]
                p, q = self._primes[self._i], self._primes[self._j]
                self._i += 1
                if self._i == self._j:
                    self._i, self._j = 0, self._j + 1
                if (p * q).bit_length() == BITS:  # always so for OpenSSL's primes; be sure
                    return _from_primes(p, q)

    def __len__(self) -> int:
        """How many primes the pool holds."""
        return len(self._primes)


def _from_primes(p: int, q: int) -> rsa.RSAPrivateKey:
    """The RSA key with primes ``p`` and ``q`` and e = 65537 (both primes come from keys
    OpenSSL generated with that exponent, so it is invertible modulo p-1 and q-1; the slow
    validation, a primality test of each prime, is skipped)."""
    d = pow(E, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(E, p * q))
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


POOL = PrimePool()  # one per process: issuers of every provider draw from it
