"""Credentials, base URLs and key redaction."""

from __future__ import annotations

import logging

import pytest

from carto_async import Credentials, ValidationError
from carto_async._core.credentials import is_loopback_host, redact_url
from carto_async._core.logs import install_redaction

KEY = "0123456789abcdef0123456789abcdef01234567"


def test_cloud_base_url_is_the_default() -> None:
    assert Credentials("demo", KEY).base_url == "https://demo.carto.com"


def test_on_premise_template_and_explicit_urls() -> None:
    c = Credentials("demo", KEY, "https://carto.example.com/user/{user}/")
    assert c.base_url == "https://carto.example.com/user/demo"
    assert c.url("/api/v1/imports") == "https://carto.example.com/user/demo/api/v1/imports"


def test_from_env_reads_the_three_variables() -> None:
    env = {
        "CARTO_USER": "demo",
        "CARTO_API_KEY": KEY,
        "CARTO_BASE_URL": "http://127.0.0.1:9/user/demo",
    }
    c = Credentials.from_env(env)
    assert (c.username, c.api_key, c.base_url) == ("demo", KEY, "http://127.0.0.1:9/user/demo")


def test_from_env_without_a_user_says_what_to_set() -> None:
    with pytest.raises(ValidationError, match="CARTO_USER and CARTO_API_KEY"):
        Credentials.from_env({})


def test_plain_http_to_a_remote_host_is_refused() -> None:
    with pytest.raises(ValidationError, match="refusing to send the API key over plain http"):
        Credentials("demo", KEY, "http://carto.example.com/user/demo")


def test_plain_http_is_allowed_on_loopback_or_with_an_explicit_opt_in() -> None:
    Credentials("demo", KEY, "http://localhost:8765/user/demo")
    Credentials("demo", KEY, "http://127.0.0.1:8765/user/demo")
    Credentials("demo", KEY, "http://demo.localhost:8765")
    Credentials("demo", KEY, "http://carto.example.com/user/demo", allow_insecure_http=True)
    Credentials("demo", None, "http://carto.example.com/user/demo")  # no key, nothing to leak


@pytest.mark.parametrize("user", ["", "de mo", "a/b", "x?y"])
def test_invalid_usernames_are_rejected(user: str) -> None:
    with pytest.raises(ValidationError):
        Credentials(user, KEY)


def test_bad_base_urls_are_rejected() -> None:
    with pytest.raises(ValidationError, match="http"):
        Credentials("demo", KEY, "ftp://x")
    with pytest.raises(ValidationError, match="query"):
        Credentials("demo", KEY, "https://x.com/?api_key=" + KEY)


def test_the_key_never_appears_in_the_repr() -> None:
    c = Credentials("demo", KEY)
    assert KEY not in repr(c)
    assert "***" in repr(c)
    assert KEY not in str(c)


def test_redact_url_masks_key_params_and_passwords() -> None:
    url = f"https://demo.carto.com/api/v1/imports?api_key={KEY}&a=1&map_key={KEY}"
    shown = redact_url(url)
    assert KEY not in shown
    assert "a=1" in shown
    assert redact_url("https://u:secret@h/x") == "https://u:***@h/x"


def test_credentials_redact_masks_the_key_anywhere() -> None:
    c = Credentials("demo", KEY)
    assert KEY not in c.redact(f"error near {KEY} and again {KEY}")


def test_loopback_hosts() -> None:
    assert all(
        map(is_loopback_host, ["localhost", "127.0.0.1", "127.5.5.5", "[::1]", "a.localhost"])
    )
    assert not any(map(is_loopback_host, ["example.com", "10.0.0.1", "localhost.example.com"]))


def test_httpx_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_redaction()
    with caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info(
            'HTTP Request: %s %s "%s"', "GET", f"https://x/api?api_key={KEY}&b=2", "200 OK"
        )
    assert KEY not in caplog.text
    assert "api_key=***" in caplog.text
