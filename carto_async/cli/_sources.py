"""Turn the command's arguments (files, directories, globs, URLs) into a list of sources.

Everything here runs before any request, so that a typo or a wrong file type is reported at
once, with every problem listed, instead of after half a batch was uploaded.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Sequence

import attrs

from carto_async._core.imports import SUPPORTED_EXTENSIONS, has_supported_extension

__all__ = ["Expansion", "Source", "expand_sources", "file_source", "url_source"]

_URL_RE = re.compile(r"^(https?|ftp)://\S+$", re.IGNORECASE)
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_GLOB_CHARS = frozenset("*?[")


@attrs.frozen
class Source:
    """One thing to import: a local file (``path``) or a URL the server downloads (``url``).

    ``key`` identifies it in a manifest (the absolute path, or the URL), so that a re-run from
    another directory still recognises it; ``label`` is what the user typed or what the
    directory walk found, for display.
    """

    key: str
    label: str
    path: str | None = None
    url: str | None = None
    size: int | None = None

    @property
    def is_url(self) -> bool:
        """True for a URL import (nothing is uploaded from this machine)."""
        return self.url is not None


def file_source(path: str, label: str | None = None) -> Source:
    """The source of a local file (its size is read now, for the progress bars)."""
    return Source(
        key=os.path.abspath(path),
        label=label if label is not None else path,
        path=path,
        size=os.path.getsize(path),
    )


def url_source(url: str) -> Source:
    """The source of a URL import."""
    return Source(key=url, label=url, url=url)


@attrs.define
class Expansion:
    """The sources found, the files passed over, and every problem with the arguments.

    ``skipped`` lists files found in directories or by globs whose type the importer does not
    know (a shapefile's ``.dbf``, a README): those are passed over, not errors. A file named
    explicitly with such a type is a problem.
    """

    sources: list[Source] = attrs.Factory(list)
    skipped: list[str] = attrs.Factory(list)
    problems: list[str] = attrs.Factory(list)
    unsupported: bool = False

    def messages(self) -> list[str]:
        """The problems, followed by the supported types when a file type was refused."""
        out = list(self.problems)
        if self.unsupported:
            out.append("supported file types: " + " ".join(SUPPORTED_EXTENSIONS))
        return out


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _walk(directory: str) -> Iterable[str]:
    """Files under ``directory``, recursively, sorted, hidden files and folders left out."""
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not _is_hidden(d))
        for name in sorted(files):
            if not _is_hidden(name):
                yield os.path.join(root, name)


class _Collector:
    def __init__(self) -> None:
        self.result = Expansion()
        self._seen: set[str] = set()

    def add_file(self, path: str, *, explicit: bool) -> bool:
        if not has_supported_extension(path):
            if explicit:
                self.result.problems.append(f"{path}: unsupported file type")
                self.result.unsupported = True
            else:
                self.result.skipped.append(path)
            return False
        if not os.access(path, os.R_OK):
            self.result.problems.append(f"{path}: cannot read this file (permission denied)")
            return False
        source = file_source(path)
        if source.key not in self._seen:
            self._seen.add(source.key)
            self.result.sources.append(source)
        return True

    def add_url(self, url: str) -> None:
        if url not in self._seen:
            self._seen.add(url)
            self.result.sources.append(url_source(url))

    def add_directory(self, directory: str) -> None:
        found = [self.add_file(path, explicit=False) for path in _walk(directory)]
        if not any(found):
            self.result.problems.append(f"{directory}: no importable files in this directory")

    def add_glob(self, pattern: str) -> None:
        matches = sorted(glob.glob(pattern, recursive=True))
        if not matches:
            self.result.problems.append(f"{pattern}: no files match")
            return
        found: list[bool] = []
        for match in matches:
            if os.path.isdir(match):
                found.extend(self.add_file(p, explicit=False) for p in _walk(match))
            elif os.path.isfile(match):
                found.append(self.add_file(match, explicit=False))
        if not any(found):
            self.result.problems.append(f"{pattern}: matches no importable files")


def expand_sources(arguments: Sequence[str]) -> Expansion:
    """Expand files, directories (recursively), globs and http(s)/ftp URLs, in order.

    A path that exists is taken literally even if it has glob characters; a file reached twice
    is imported once.
    """
    collector = _Collector()
    problems = collector.result.problems
    for argument in arguments:
        if _URL_RE.match(argument):
            collector.add_url(argument)
        elif _SCHEME_RE.match(argument):
            problems.append(f"{argument}: only http, https and ftp URLs can be imported")
        elif os.path.isdir(argument):
            collector.add_directory(argument)
        elif os.path.isfile(argument):
            collector.add_file(argument, explicit=True)
        elif os.path.exists(argument):
            problems.append(f"{argument}: not a regular file")
        elif _GLOB_CHARS & set(argument):
            collector.add_glob(argument)
        else:
            problems.append(f"{argument}: no such file or directory")
    return collector.result
