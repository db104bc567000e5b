import hashlib

from zapgate.gateway.domain.api_keys import (
    display_prefix,
    generate_key,
    hash_key,
    looks_like_key,
    same_key,
)
from zapgate.gateway.domain.principal import ADMIN, Principal


def test_keys_are_prefixed_and_long_enough_for_128_bits() -> None:
    keys = {generate_key() for _ in range(1000)}
    assert len(keys) == 1000
    for key in keys:
        assert key.startswith("zg_")
        # 32 URL-safe base64 characters carry 192 bits
        assert len(key) == 35
        assert looks_like_key(key)


def test_the_stored_form_is_the_sha256_of_the_key() -> None:
    # That the database holds only this form is read from the database itself in
    # tests/integration/test_gateway_guarantees.py.
    key = generate_key()
    assert hash_key(key) == hashlib.sha256(key.encode()).hexdigest()
    assert key not in hash_key(key)
    assert display_prefix(key) == key[:7]  # the prefix and 4 of the 32 random characters


def test_same_key_compares_exactly() -> None:
    key = generate_key()
    assert same_key(key, key)
    assert not same_key(key, key + "x")


def test_malformed_keys_are_refused_before_lookup() -> None:
    assert not looks_like_key("short")
    assert not looks_like_key("zg_" + "é" * 20)
    assert not looks_like_key("zg_" + "a" * 300)


def test_tenants_see_only_themselves() -> None:
    tenant = Principal(is_admin=False, tenant_id="A")
    assert tenant.can_see_tenant("A")
    assert not tenant.can_see_tenant("B")
    assert ADMIN.can_see_tenant("B")
