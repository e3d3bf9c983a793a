"""Secrets: tokens, their keyed hashes, encryption at rest with rotating keys, and signatures."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import zlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["InvalidToken"]


def generate_token(prefix: str = "", nbytes: int = 32) -> str:
    """A random token; with a prefix, it ends in a checksum so typos are caught before a lookup."""
    body = secrets.token_urlsafe(nbytes)
    if not prefix:
        return body
    checksum = format(zlib.crc32(f"{prefix}{body}".encode()), "08x")
    return f"{prefix}{body}_{checksum}"


def token_checksum_ok(token: str, prefix: str) -> bool:
    if not token.startswith(prefix) or "_" not in token[len(prefix) :]:
        return False
    body, _, checksum = token[len(prefix) :].rpartition("_")
    expected = format(zlib.crc32(f"{prefix}{body}".encode()), "08x")
    return hmac.compare_digest(checksum, expected)


def keyed_hash(secret_key: str, value: str) -> str:
    """What we store instead of a token: an HMAC-SHA256 under the instance's secret key."""
    return hmac.new(secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()


def sign(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signature_ok(secret: str, message: str, signature: str) -> bool:
    # Compared as bytes: compare_digest refuses non-ASCII str, and a forged value may be anything.
    return hmac.compare_digest(sign(secret, message).encode(), signature.encode())


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Encryptor:
    """Authenticated encryption with key rotation: the first key encrypts, every key decrypts."""

    def __init__(self, keys: str) -> None:
        self._fernet = MultiFernet([Fernet(key.strip()) for key in keys.split(",") if key.strip()])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        return self._fernet.decrypt(ciphertext.encode()).decode()

    def rotate(self, ciphertext: str) -> str:
        return self._fernet.rotate(ciphertext.encode()).decode()


def generate_encryption_key() -> str:
    return Fernet.generate_key().decode()
