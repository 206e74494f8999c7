"""carto-async's pytest plugin: a LocalCarto and SDK clients bound to it, for your own tests.

pytest loads it through the ``pytest11`` entry point once carto-async is installed; the
fixtures need the ``[local]`` extra (``pip install 'carto-async[local]'``) and say so when it is
missing. The plugin imports nothing of LocalCarto until a fixture is used, so installing
carto-async without the extra never breaks a test run.

* ``local_carto``: a :class:`~carto_async.testing.LocalCarto` serving on loopback for one test.
  With ``local_carto_reuse = true`` in the pytest ini options, one server serves the whole
  session instead and :meth:`~carto_async.testing.LocalCarto.reset` runs before each test
  (tables, jobs, faults, counters and datasources cleared, the seed folder imported again).
* ``local_carto_session``: that session-wide server.
* ``local_carto_options``: the options the servers are made with (``{}``); override it in a
  ``conftest.py`` (session scope) to seed tables or freeze the clock::

      @pytest.fixture(scope="session")
      def local_carto_options():
          return {"seed_dir": "tests/data", "import_processing_time": 0.01}

* ``carto``: a :class:`~carto_async.Carto` for ``local_carto``'s user and master key.
* ``async_carto``: an :class:`~carto_async.AsyncCarto`, for async tests run by anyio's pytest
  plugin (``@pytest.mark.anyio``).

Both clients poll imports every few hundredths of a second, as suits a local server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from carto_async import AsyncCarto, Carto
    from carto_async.testing import LocalCarto

__all__ = [
    "async_carto",
    "carto",
    "local_carto",
    "local_carto_options",
    "local_carto_session",
    "pytest_addoption",
]

_REUSE = "local_carto_reuse"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``local_carto_reuse`` ini option."""
    parser.addini(
        _REUSE,
        type="bool",
        default=False,
        help="local_carto: one LocalCarto for the session, reset before each test.",
    )


def _server_class() -> type[LocalCarto]:
    try:
        from carto_async.testing import LocalCarto  # noqa: PLC0415 - the [local] extra
    except ImportError as exc:
        missing = (exc.name or "a dependency").partition(".")[0]
    else:
        return LocalCarto
    pytest.fail(
        f"the local_carto fixtures need LocalCarto's dependencies ({missing} is missing): "
        "pip install 'carto-async[local]'",
        pytrace=False,
    )


def _client_options() -> dict[str, Any]:
    from carto_async import PollPolicy  # noqa: PLC0415 - keep the plugin's import light

    return {"poll": PollPolicy(initial=0.02, factor=1.5, cap=0.25)}


@pytest.fixture(scope="session")
def local_carto_options() -> dict[str, Any]:
    """Keyword options of the fixtures' LocalCarto servers; override to change them."""
    return {}


@pytest.fixture(scope="session")
def local_carto_session(local_carto_options: dict[str, Any]) -> Iterator[LocalCarto]:
    """One LocalCarto for the whole session (see ``local_carto_reuse``)."""
    with _server_class()(**local_carto_options) as server:
        yield server


@pytest.fixture
def local_carto(
    request: pytest.FixtureRequest, local_carto_options: dict[str, Any]
) -> Iterator[LocalCarto]:
    """A LocalCarto for this test: a fresh one, or the session's after ``reset()``."""
    if request.config.getini(_REUSE):
        server: LocalCarto = request.getfixturevalue("local_carto_session")
        server.reset()
        yield server
        return
    with _server_class()(**local_carto_options) as server:
        yield server


@pytest.fixture
def carto(local_carto: LocalCarto) -> Iterator[Carto]:
    """A sync SDK client of ``local_carto`` (its user, master key and base URL)."""
    with local_carto.client(**_client_options()) as client:
        yield client


@pytest.fixture
async def async_carto(local_carto: LocalCarto) -> AsyncIterator[AsyncCarto]:
    """An async SDK client of ``local_carto``; use it from ``@pytest.mark.anyio`` tests."""
    async with local_carto.async_client(**_client_options()) as client:
        yield client
