"""`Secrets`: what the engine masks on the way out, known at start or fetched later."""

from __future__ import annotations

from naftiko.engine.secrets import Secrets


def test_a_secret_containing_another_is_masked_whole_in_text_bytes_and_values() -> None:
    secrets = Secrets({"key-1", "key-1-long"})
    assert secrets.text("a key-1-long b key-1") == "a *** b ***"
    assert secrets.bytes(b"key-1-long") == b"***"
    assert secrets.value({"key-1": ["key-1-long", 7, True]}) == {"***": ["***", 7, True]}
    assert secrets.longest == len("key-1-long")


def test_a_numeric_credential_mapped_into_a_number_is_masked() -> None:
    assert Secrets({"123456"}).value([123456, 1234567]) == ["***", 1234567]


def test_tokens_added_while_running_are_masked_and_only_the_recent_ones_are_kept() -> None:
    secrets = Secrets(set())
    assert not secrets
    for n in range(100):
        secrets.add(f"token-{n:03}")
    secrets.add("token-099")  # already known: nothing changes
    assert secrets.text("token-099 token-068 token-067") == "*** *** token-067"
    assert secrets.text("token-000") == "token-000"


def test_a_secret_is_masked_as_json_writers_and_urls_spell_it() -> None:
    secrets = Secrets({'a/b+c="é d'})
    spelled = [
        '{"t": "a/b+c=\\"\\u00e9 d"}',  # ASCII-only JSON (Python's default)
        '{"t": "a\\/b+c=\\"é d"}',  # slashes escaped (PHP's default)
        "/v1?key=a%2Fb%2Bc%3D%22%C3%A9%20d",  # percent-encoded, as the gateway sends it
        "key=a%2Fb%2Bc%3D%22%C3%A9+d",  # form-encoded
    ]
    assert [secrets.text(text) for text in spelled] == [
        '{"t": "***"}',
        '{"t": "***"}',
        "/v1?key=***",
        "key=***",
    ]
    assert secrets.bytes(spelled[0].encode()) == b'{"t": "***"}'
