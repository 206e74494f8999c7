"""Development sessions: ``nox`` runs lint, typecheck and tests (what CI runs)."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON = "3.11"


def _group(name: str) -> list[str]:
    return list(nox.project.dependency_groups(PYPROJECT, name))


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite (unit, integration against LocalCarto, CLI), asyncio and trio."""
    session.install("-e", ".[local,render,dataframes]", *_group("test"))
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (check and format) and the generated-sync-code check."""
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("python", "carto_async/_tools/gen_sync.py", "--check")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package and the static type tests (pyproject's ``files``)."""
    session.install("-e", ".[local,render,dataframes]", *_group("typecheck"))
    session.run("mypy", "--strict")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run every benchmark against LocalCarto and print the tables (see benchmarks/)."""
    session.install("-e", ".[local,render,dataframes]", *_group("test"))
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The batch import demo on the embedded LocalCarto."""
    session.install("-e", ".[local,render]")
    session.run("carto-async", "demo", *session.posargs)
