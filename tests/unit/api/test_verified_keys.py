"""API keys verified a moment ago are trusted without the database, until they are too old or
revoked; a lookup that was under way when a key was revoked is not kept."""

from __future__ import annotations

import time
import uuid

from leap_connect.organizations.service import VerifiedApiKey, VerifiedKeys

KEY = VerifiedApiKey(uuid.uuid4(), uuid.uuid4(), frozenset({"meters:read"}))


def test_a_verified_key_is_remembered_by_its_hmac() -> None:
    keys = VerifiedKeys()
    keys.remember("hmac", KEY, verified_at=time.monotonic(), revocations=keys.revocations)
    assert keys.get("hmac") == KEY
    assert keys.get("another-hmac") is None


def test_a_key_verified_too_long_ago_is_looked_up_again() -> None:
    keys = VerifiedKeys(seconds=0)
    keys.remember("hmac", KEY, verified_at=time.monotonic(), revocations=keys.revocations)
    assert keys.get("hmac") is None


def test_a_revoked_key_is_forgotten() -> None:
    keys = VerifiedKeys()
    keys.remember("hmac", KEY, verified_at=time.monotonic(), revocations=keys.revocations)
    keys.forget("hmac")
    assert keys.get("hmac") is None


def test_a_lookup_that_began_before_a_revocation_is_not_remembered() -> None:
    keys = VerifiedKeys()
    began, revocations = time.monotonic(), keys.revocations
    keys.forget("hmac")  # revoked while the lookup read the key as it was before
    keys.remember("hmac", KEY, verified_at=began, revocations=revocations)
    assert keys.get("hmac") is None
