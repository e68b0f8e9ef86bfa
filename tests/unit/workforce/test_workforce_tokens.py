from quorum_workforce.core.tokens import TOKEN_PREFIX, hash_token, is_well_formed, new_token


def test_new_tokens_are_prefixed_unique_and_well_formed() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert token.startswith(TOKEN_PREFIX)
        assert is_well_formed(token)


def test_hash_is_stable_sha256_hex_and_not_the_token() -> None:
    token = new_token()
    digest = hash_token(token)
    assert digest == hash_token(token)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert token not in digest
    assert hash_token(new_token()) != digest


def test_malformed_tokens_are_rejected_without_lookup() -> None:
    good = new_token()
    for bad in ("", "qw_", good[3:], "xx_" + good[3:], good + "a", good[:-1], good[:-1] + "!"):
        assert not is_well_formed(bad), bad
