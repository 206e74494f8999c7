"""Expanding the import command's arguments into sources, before any request."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from carto_async.cli._sources import expand_sources


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "data" / "nested").mkdir(parents=True)
    (tmp_path / "data" / "a.csv").write_text("x\n1\n")
    (tmp_path / "data" / "b.geojson").write_text("{}")
    (tmp_path / "data" / "README.md").write_text("notes")
    (tmp_path / "data" / "nested" / "c.tsv").write_text("x\n1\n")
    (tmp_path / "data" / "nested" / "d.shp").write_bytes(b"\0")
    (tmp_path / "data" / ".hidden.csv").write_text("x\n")
    (tmp_path / "notes.xyz").write_text("?")
    return tmp_path


def test_a_directory_is_walked_recursively_in_order_keeping_importable_files(tree: Path) -> None:
    result = expand_sources([str(tree / "data")])
    assert [os.path.basename(s.label) for s in result.sources] == ["a.csv", "b.geojson", "c.tsv"]
    assert sorted(os.path.basename(p) for p in result.skipped) == ["README.md", "d.shp"]
    assert result.problems == []


def test_hidden_files_are_left_out(tree: Path) -> None:
    labels = [s.label for s in expand_sources([str(tree / "data")]).sources]
    assert not any(".hidden" in label for label in labels)


def test_globs_expand_and_a_file_reached_twice_is_imported_once(tree: Path) -> None:
    result = expand_sources([str(tree / "data" / "*.csv"), str(tree / "data" / "a.csv")])
    assert [os.path.basename(s.label) for s in result.sources] == ["a.csv"]


def test_recursive_globs(tree: Path) -> None:
    result = expand_sources([str(tree / "data" / "**" / "*.tsv")])
    assert [os.path.basename(s.label) for s in result.sources] == ["c.tsv"]


def test_urls_are_kept_as_given_and_files_get_their_absolute_path_as_key(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree)
    result = expand_sources(["https://example.com/stores.csv", "data/a.csv"])
    url, local = result.sources
    assert url.is_url
    assert url.key == "https://example.com/stores.csv"
    assert local.label == "data/a.csv"
    assert local.key == str(tree / "data" / "a.csv")
    assert local.size == 4


def test_a_missing_path_is_a_problem(tree: Path) -> None:
    result = expand_sources([str(tree / "nope.csv")])
    assert result.messages() == [f"{tree / 'nope.csv'}: no such file or directory"]


def test_a_named_file_of_an_unsupported_type_is_a_problem_listing_the_supported_types(
    tree: Path,
) -> None:
    messages = expand_sources([str(tree / "notes.xyz")]).messages()
    assert messages[0] == f"{tree / 'notes.xyz'}: unsupported file type"
    assert messages[1].startswith("supported file types: .csv .tsv")


def test_every_problem_is_reported_at_once(tree: Path) -> None:
    result = expand_sources(
        [str(tree / "missing"), str(tree / "notes.xyz"), str(tree / "*.nothing"), "s3://b/k.csv"]
    )
    assert len(result.problems) == 4
    assert "no files match" in result.problems[2]
    assert "only http, https and ftp URLs" in result.problems[3]


def test_a_directory_without_importable_files_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = expand_sources([str(tmp_path / "empty")])
    assert result.problems == [f"{tmp_path / 'empty'}: no importable files in this directory"]
