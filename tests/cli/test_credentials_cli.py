"""The command's credentials: read by the SDK's one environment reader, refused before any
request when empty, misplaced or bound for plain http:// off this machine."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from carto_async._core.credentials import Credentials
from carto_async.cli._import import resolve_credentials
from carto_async.cli._run import Problem
from carto_async.testing import LocalCarto
from tests.cli.conftest import KEY, invoke

pytestmark = pytest.mark.integration


def test_the_environment_is_read_as_credentials_from_env_reads_it() -> None:
    env = {"CARTO_USER": "demo", "CARTO_API_KEY": KEY + "\n", "CARTO_BASE_URL": " https://x.io "}
    assert resolve_credentials(None, None, None, env) == Credentials.from_env(env)
    flags = resolve_credentials("other", "flag-key", "https://y.io", env)
    assert (flags.username, flags.api_key, flags.base_url) == ("other", "flag-key", "https://y.io")


def test_a_user_without_a_key_is_not_enough_for_imports() -> None:
    with pytest.raises(Problem, match=r"master API key \(--api-key or CARTO_API_KEY\)"):
        resolve_credentials("demo", None, None, {})


def test_an_empty_key_flag_is_refused_before_any_request(server: LocalCarto, data: Path) -> None:
    args = ["import", "data", "--user", "demo", "--api-key", "", "--base-url", server.base_url]
    result = invoke(args)
    assert result.exit_code == 2
    assert "error: the API key is empty" in result.stderr
    assert server.counters.requests == {}


def test_an_empty_key_variable_is_refused_before_any_request(
    server: LocalCarto, env: dict[str, str | None], data: Path
) -> None:
    result = invoke(["import", "data"], {**env, "CARTO_API_KEY": ""})
    assert result.exit_code == 2
    assert "CARTO_API_KEY is set but empty" in result.stderr
    assert server.counters.requests == {}


@pytest.mark.parametrize("encode", [True, False], ids=["encoded", "raw"])
def test_a_key_in_the_base_url_is_refused_and_never_printed(
    server: LocalCarto, data: Path, encode: bool
) -> None:
    # Raw, the key's "/" ends the host part: the URL is malformed rather than userinfo.
    secret = quote(KEY, safe="") if encode else KEY
    url = server.base_url.replace("http://", f"http://demo:{secret}@")
    result = invoke(["import", "data", "-vv", "--base-url", url, "--user", "demo"])
    assert result.exit_code == 2
    if encode:
        assert "must not carry credentials" in result.stderr
        assert "--api-key or CARTO_API_KEY" in result.stderr
    else:
        assert "with a host and a valid port" in result.stderr
    for form in (KEY, quote(KEY, safe=""), quote_plus(KEY), "0123456789+abcdef"):
        assert form not in result.output
    assert server.counters.requests == {}


def test_plain_http_to_a_localhost_subdomain_needs_the_explicit_flag(
    server: LocalCarto, env: dict[str, str | None], data: Path
) -> None:
    url = f"http://demo.localhost:{server.port}"
    result = invoke(["import", "data"], {**env, "CARTO_BASE_URL": url})
    assert result.exit_code == 2
    assert "refusing to send the API key over plain http:// to demo.localhost" in result.stderr
    assert "--allow-insecure-http" in result.stderr
    assert server.counters.requests == {}
