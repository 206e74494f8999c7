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


@pytest.mark.parametrize(
    "url",
    [
        "http://carto.example.com/user/demo",
        # Names under .localhost reach whatever the resolver says: not loopback for the key.
        "http://demo.localhost:8765",
        "http://localhost.example.com/user/demo",
        "http://127.0.0.1.nip.io/user/demo",
    ],
)
def test_plain_http_to_a_remote_host_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="refusing to send the API key over plain http"):
        Credentials("demo", KEY, url)


def test_plain_http_is_allowed_on_loopback_or_with_an_explicit_opt_in() -> None:
    Credentials("demo", KEY, "http://localhost:8765/user/demo")
    Credentials("demo", KEY, "http://127.0.0.1:8765/user/demo")
    Credentials("demo", KEY, "http://127.8.9.10:8765/user/demo")
    Credentials("demo", KEY, "http://[::1]:8765/user/demo")
    Credentials("demo", KEY, "http://demo.localhost:8765", allow_insecure_http=True)
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
    assert redact_url("https://u:secret@h/x") == "https://***@h/x"
    # The user part may be the secret itself.
    assert redact_url(f"https://{KEY}@h/x") == "https://***@h/x"
    assert redact_url(f"https://{KEY}:x@h/x") == "https://***@h/x"


def test_credentials_redact_masks_the_key_anywhere() -> None:
    c = Credentials("demo", KEY)
    assert KEY not in c.redact(f"error near {KEY} and again {KEY}")


def test_loopback_hosts_are_localhost_and_literal_loopback_addresses_only() -> None:
    assert all(map(is_loopback_host, ["localhost", "LocalHost", "127.0.0.1", "127.5.5.5", "[::1]"]))
    others = ["example.com", "10.0.0.1", "localhost.example.com", "a.localhost", "::2", "0.0.0.0"]
    assert not any(map(is_loopback_host, [*others, "127.0.0.1.nip.io", "localhost."]))


def test_httpx_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_redaction()
    with caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info(
            'HTTP Request: %s %s "%s"', "GET", f"https://x/api?api_key={KEY}&b=2", "200 OK"
        )
    assert KEY not in caplog.text
    assert "api_key=***" in caplog.text


@pytest.mark.parametrize("key", ["", " ", "\t\n"])
def test_an_empty_key_is_a_validation_error(key: str) -> None:
    with pytest.raises(ValidationError, match="api_key is empty"):
        Credentials("demo", key)


@pytest.mark.parametrize("key", [KEY + "\n", " " + KEY, KEY[:5] + "\x00" + KEY[5:]])
def test_a_key_with_whitespace_or_control_characters_is_refused_without_quoting_it(
    key: str,
) -> None:
    with pytest.raises(ValidationError, match="whitespace or control characters") as caught:
        Credentials("demo", key)
    assert KEY[6:] not in str(caught.value)


def test_a_key_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(ValidationError, match="must be a string"):
        Credentials("demo", 1234)  # type: ignore[arg-type]


def test_no_key_is_the_public_user_and_required_key_says_so() -> None:
    public = Credentials("demo")
    assert public.api_key is None
    with pytest.raises(ValidationError, match=r"POST /api/v1/imports needs an API key"):
        public.required_key("POST /api/v1/imports")
    assert Credentials("demo", KEY).required_key("POST /api/v1/imports") == KEY


@pytest.mark.parametrize(
    "url",
    [
        f"https://demo:{KEY}@demo.carto.com",
        f"https://{KEY}@demo.carto.com",
        f"https://{KEY}:@carto.example.com/user/demo",
        f"http://demo:{KEY}@127.0.0.1:8080/user/demo",
    ],
)
def test_credentials_in_the_base_url_are_refused_and_never_repeated(url: str) -> None:
    with pytest.raises(ValidationError, match="must not carry credentials") as caught:
        Credentials("demo", None, url)
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value.problems)


@pytest.mark.parametrize(
    "url",
    [f"ftp://h/{KEY}", f"https:///{KEY}", f"http://demo:{KEY}/x", f"demo.carto.com/{KEY}"],
)
def test_a_malformed_base_url_is_refused_without_repeating_it(url: str) -> None:
    with pytest.raises(ValidationError, match="base_url must be an http") as caught:
        Credentials("demo", None, url)
    assert KEY not in str(caught.value)


def test_a_base_url_without_a_scheme_says_how_to_start_it() -> None:
    with pytest.raises(ValidationError, match=r"starting with https:// \(or http://\)"):
        Credentials("demo", KEY, "demo.carto.com")
    with pytest.raises(ValidationError, match=r"starting with https://") as caught:
        Credentials("demo", None, f"{KEY}:x")
    assert KEY not in str(caught.value)
    with pytest.raises(ValidationError, match=r"not ftp://\.\.\."):
        Credentials("demo", KEY, "ftp://demo.carto.com")


def test_from_env_refuses_credentials_in_carto_base_url() -> None:
    env = {"CARTO_USER": "demo", "CARTO_BASE_URL": f"https://demo:{KEY}@demo.carto.com"}
    with pytest.raises(ValidationError, match="must not carry credentials") as caught:
        Credentials.from_env(env)
    assert KEY not in str(caught.value)


def test_from_env_an_unset_key_is_the_public_user_a_set_but_empty_one_an_error() -> None:
    assert Credentials.from_env({"CARTO_USER": "demo"}).api_key is None
    for empty in ("", "  "):
        with pytest.raises(ValidationError, match="CARTO_API_KEY is set but empty"):
            Credentials.from_env({"CARTO_USER": "demo", "CARTO_API_KEY": empty})
    # A trailing newline from a key file is not part of the key.
    assert Credentials.from_env({"CARTO_USER": "demo", "CARTO_API_KEY": KEY + "\n"}).api_key == KEY


def test_from_env_arguments_win_over_the_variables() -> None:
    env = {"CARTO_USER": "env-user", "CARTO_API_KEY": "env-key", "CARTO_BASE_URL": "https://e.com"}
    c = Credentials.from_env(
        env, username="demo", api_key=KEY, base_url="http://x.example.com", allow_insecure_http=True
    )
    assert (c.username, c.api_key, c.base_url) == ("demo", KEY, "http://x.example.com")
    assert Credentials.from_env(env, username="demo").api_key == "env-key"


def test_log_records_mask_userinfo_in_urls(caplog: pytest.LogCaptureFixture) -> None:
    install_redaction()
    log = logging.getLogger("carto_async")
    with caplog.at_level(logging.INFO, logger="carto_async"):
        log.info("connecting to https://demo:%s@demo.carto.com/api", KEY)
        log.info("connecting to %s", f"https://{KEY}@demo.carto.com/api?api_key={KEY}")
        log.info(f"message built by hand: http://{KEY}:pw@127.0.0.1:9/x")
    assert KEY not in caplog.text
    assert caplog.text.count("://***@") == 3


def test_log_records_with_mapping_arguments_stay_formattable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_redaction()
    log = logging.getLogger("carto_async")
    with caplog.at_level(logging.INFO, logger="carto_async"):
        log.info("GET %(url)s", {"url": f"https://h/x?api_key={KEY}"})
    assert caplog.messages == ["GET https://h/x?api_key=***"]
