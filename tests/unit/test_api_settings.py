"""api: settings: defaults, listen addresses, the token's rules, public_url, warnings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from monitor.api.settings import ApiSettings, is_loopback, split_listen

TOKEN = "a-token-of-enough-length-42"


def problem(**values) -> str:
    with pytest.raises(ValidationError) as caught:
        ApiSettings(**values)
    errors = caught.value.errors(include_url=False)
    assert len(errors) == 1, errors
    return f"{'.'.join(map(str, errors[0]['loc']))}: {errors[0]['msg']}"


def test_defaults_are_safe():
    settings = ApiSettings()
    assert (settings.enabled, settings.listen, settings.token, settings.read_token_required) == (
        True, "127.0.0.1:9116", None, False)
    assert (settings.host, settings.port, settings.max_body_bytes, settings.public_url) == (
        "127.0.0.1", 9116, 65536, None)


def test_every_field_is_described_and_unknown_keys_are_refused():
    assert all(field.description for field in ApiSettings.model_fields.values())
    assert "extra_forbidden" in str(pytest.raises(ValidationError, ApiSettings, tokn=TOKEN).value.errors())


@pytest.mark.parametrize("listen, host, port", [
    ("127.0.0.1:9116", "127.0.0.1", 9116),
    ("[::1]:9116", "::1", 9116),
    ("localhost:8080", "localhost", 8080),
    ("0.0.0.0:9116", "0.0.0.0", 9116),
    ("[::]:1", "::", 1),
    ("noc-01.example:9116", "noc-01.example", 9116),
    (" 127.0.0.1:0 ", "127.0.0.1", 0),  # 0: a free port (tests)
])
def test_listen_forms(listen, host, port):
    settings = ApiSettings(listen=listen)
    assert (settings.host, settings.port) == (host, port)
    assert split_listen(listen) == (host, port)


@pytest.mark.parametrize("listen, words", [
    ("9116", "is not host:port; write e.g. 127.0.0.1:9116"),
    ("127.0.0.1", "is not host:port"),
    ("::1:9116", "is not host:port"),
    ("[::1", "is not host:port"),
    ("127.0.0.1:", "is not host:port"),
    ("127.0.0.1:http", "is not host:port"),
    ("127.0.0.1:70000", "port 70000 is out of range"),
    ("[127.0.0.1]:9116", "is not an IPv6 address"),
    ("bad host:9116", "neither an IPv4 address nor a host name"),
    ("-x:9116", "neither an IPv4 address nor a host name"),
])
def test_bad_listen_is_a_sentence(listen, words):
    message = problem(listen=listen)
    assert message.startswith("listen: Value error, ") and words in message


def test_non_loopback_listen_is_allowed_with_a_warning():
    for listen in ("127.0.0.1:9116", "127.0.0.5:9116", "[::1]:9116", "localhost:9116"):
        assert ApiSettings(listen=listen, token=TOKEN).warnings() == [], listen
    for listen in ("0.0.0.0:9116", "192.0.2.10:9116", "[::]:9116", "noc.example:9116"):
        warnings = ApiSettings(listen=listen, token=TOKEN).warnings()
        assert len(warnings) == 1 and "is not a loopback address" in warnings[0], listen
        assert "without a token" in warnings[0]
    guarded = ApiSettings(listen="0.0.0.0:9116", token=TOKEN, read_token_required=True).warnings()
    assert "without a token" not in guarded[0]
    assert ApiSettings(listen="0.0.0.0:9116", enabled=False).warnings() == []
    assert not is_loopback("localhost.example")


def test_missing_token_warns_how_to_set_it():
    (warning,) = ApiSettings().warnings()
    assert "api.token is not set" in warning
    assert "api__token" in warning and "NETVIGIL_API__TOKEN" in warning


def test_token_rules_never_quote_the_token():
    short = "short-secret"
    message = problem(token=short)
    assert "shorter than 16 characters" in message and short not in message
    spaced = "two words of a secret token"
    message = problem(token=spaced)
    assert "one word" in message and spaced not in message
    # A secret file ends with a newline; that is not part of the token.
    assert ApiSettings(token=f"  {TOKEN}\n").token.get_secret_value() == TOKEN
    assert TOKEN not in repr(ApiSettings(token=TOKEN))


def test_read_token_required_needs_a_token():
    message = problem(read_token_required=True)
    assert "api.read_token_required is true but api.token is not set" in message
    assert ApiSettings(read_token_required=True, token=TOKEN).read_token_required


@pytest.mark.parametrize("value", [1023, 16 * 1024 * 1024 + 1, "big"])
def test_max_body_bytes_bounds(value):
    assert problem(max_body_bytes=value).startswith("max_body_bytes:")


def test_public_url_and_fault_links():
    settings = ApiSettings(public_url="https://noc.example/netvigil/")
    assert settings.public_url == "https://noc.example/netvigil"
    assert settings.fault_url(12, "ack") == "https://noc.example/netvigil/api/v1/faults/12/ack"
    assert settings.fault_url(12) == "https://noc.example/netvigil/api/v1/faults/12"
    assert ApiSettings().fault_url(12, "ack") is None
    for bad, words in (("noc.example", "http:// or https://"), ("ftp://noc.example", "http:// or https://"),
                       ("https://admin:pw@noc.example", "without user name, password"),
                       ("https://noc.example/?x=1", "without user name, password, query")):
        message = problem(public_url=bad)
        assert words in message, bad
        assert "pw" not in message


@pytest.mark.parametrize("field, value", [("healthz_output_unhealthy_s", 0), ("healthz_max_lag_s", -1)])
def test_health_limits_are_positive(field, value):
    assert problem(**{field: value}).startswith(f"{field}:")


def test_slow_client_limits_have_generous_defaults():
    settings = ApiSettings()
    assert (settings.max_connections, settings.header_timeout_s, settings.body_timeout_s) == (256, 30.0, 60.0)


@pytest.mark.parametrize("field, value", [("max_connections", 3), ("max_connections", 70000),
                                          ("header_timeout_s", 0), ("header_timeout_s", 3601),
                                          ("body_timeout_s", -1), ("body_timeout_s", "slow")])
def test_slow_client_limits_bounds(field, value):
    assert problem(**{field: value}).startswith(f"{field}:")
