"""Import options and combinations are validated before anything is sent."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import attrs
import pytest

from carto_async import AsyncImports, CollisionStrategy, Imports, Privacy, ValidationError
from carto_async._core import imports as core
from carto_async._core.multipart import _quote, check_filename, plan_multipart


def test_options_become_server_params() -> None:
    opts = core.ImportOptions.build(
        type_guessing=False,
        content_guessing=True,
        privacy="PUBLIC",
        collision_strategy=CollisionStrategy.SKIP,
    )
    assert opts.as_params() == {
        "type_guessing": "false",
        "content_guessing": "true",
        "collision_strategy": "skip",
        "privacy": "public",
    }
    assert opts.as_json() == {
        "type_guessing": False,
        "content_guessing": True,
        "collision_strategy": "skip",
        "privacy": "public",
    }
    assert core.ImportOptions.build(privacy=Privacy.LINK).privacy == "link"


def test_every_bad_option_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        core.ImportOptions.build(type_guessing="no", privacy="secret", collision_strategy="merge")
    assert len(info.value.problems) == 3
    assert "privacy must be one of 'public', 'private', 'link'" in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"url": "https://x/a.csv", "table_name": "t"},
        {"file": object(), "sql": "select 1"},
        {"file": object(), "url": "https://x"},
        {},
        {"sql": "   "},
        {"url": "file:///etc/passwd"},
        {"service_name": "gdrive", "service_item_id": 5},
    ],
)
def test_invalid_combinations(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        core.create_request(core.ImportOptions(), **kwargs)  # type: ignore[arg-type]


def test_requests_are_marked_as_creating_jobs() -> None:
    assert core.upload_request(core.ImportOptions()).creates_job
    spec = core.create_request(core.ImportOptions(), url="https://x/a.csv")
    assert spec.creates_job
    assert not spec.is_idempotent
    assert spec.json == {"url": "https://x/a.csv"}
    assert "api_key" not in spec.json


def test_local_files_are_checked(tmp_path: Path) -> None:
    f = tmp_path / "a b.csv"
    f.write_text("a,b\n1,2\n")
    local = core.describe_local_file(f)
    assert (local.filename, local.size) == ("a b.csv", 8)
    with pytest.raises(ValidationError, match="no such file"):
        core.describe_local_file(tmp_path / "missing.csv")
    with pytest.raises(ValidationError, match="is a directory"):
        core.describe_local_file(tmp_path)


def test_unreadable_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "secret.csv"
    f.write_text("x")
    monkeypatch.setattr(os, "access", lambda *_: False)  # root could read it anyway
    with pytest.raises(ValidationError, match="permission denied"):
        core.describe_local_file(f)


def test_supported_extensions() -> None:
    assert core.has_supported_extension("A.CSV")
    assert core.has_supported_extension("x.tar.gz")
    assert not core.has_supported_extension("x.exe")


def test_multipart_plan_frames_one_file_field() -> None:
    plan = plan_multipart('we"ird name.csv', 10, boundary="b0undary")
    assert plan.head.startswith(b'--b0undary\r\nContent-Disposition: form-data; name="file"; ')
    assert b'filename="we%22ird name.csv"' in plan.head
    # Line breaks are refused before (check_filename); the quoting would still escape them.
    assert _quote('a\r\nb"\\') == "a%0D%0Ab%22\\\\"
    assert plan.tail == b"\r\n--b0undary--\r\n"
    assert plan.content_length == len(plan.head) + 10 + len(plan.tail)
    assert plan.headers()["Content-Type"] == "multipart/form-data; boundary=b0undary"
    assert "Content-Length" not in plan_multipart("x.csv", None).headers()


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\n", "\r", "\t", "\x07", "\x7f"])
def test_control_characters_in_a_filename_are_refused(char: str) -> None:
    with pytest.raises(ValidationError, match="control character"):
        plan_multipart(f"a{char}b.csv", 3)


def test_a_huge_filename_gets_a_clear_message() -> None:
    with pytest.raises(ValidationError) as info:
        check_filename("x" * 100_000 + ".csv")
    message = str(info.value)
    assert "100004 bytes" in message
    assert "limited to 255 bytes" in message
    assert len(message) < 400  # the name itself is not repeated in full
    assert check_filename("é" * 125 + ".csv") == "é" * 125 + ".csv"  # 254 bytes in UTF-8
    with pytest.raises(ValidationError, match="256 bytes"):
        check_filename("é" * 126 + ".csv")


def test_the_options_are_declared_once_for_types_and_values() -> None:
    assert set(core.ImportOptionArgs.__annotations__) == {
        f.name for f in attrs.fields(core.ImportOptions)
    }
    assert core.ImportOptionArgs.__total__ is False


def test_an_unknown_option_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValidationError) as info:
        core.ImportOptions.build(privcy="public", privacy="public")  # type: ignore[call-arg]
    assert info.value.problems == [
        "unknown import option 'privcy' (known: collision_strategy, content_guessing, "
        "create_vis, privacy, quoted_fields_guessing, type_guessing)"
    ]


def test_the_resource_methods_take_the_typed_options() -> None:
    for method in (AsyncImports.upload, AsyncImports.create, AsyncImports.from_url, Imports.upload):
        options = inspect.signature(method).parameters["options"]
        assert options.kind is inspect.Parameter.VAR_KEYWORD
        assert "Unpack[core.ImportOptionArgs]" in str(options.annotation)
