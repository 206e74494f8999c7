"""The ``carto-async`` command: batch imports, the demo, and a local CARTO-compatible server.

``carto-async import`` uploads files, directories, globs and URLs to CARTO's Import API,
several at once, with progress, a summary table and a resumable manifest;
``carto-async demo`` runs the same import of sample datasets against an embedded LocalCarto;
``carto-async local-server`` serves LocalCarto in the foreground; ``carto-async sync`` manages
sync tables and ``carto-async export`` writes a map to a ``.carto`` file; ``carto-async sql``,
``copy-from`` and ``copy-to`` run queries and move bulk data with the SQL API; ``carto-async
map`` writes static map images and manages named maps. The API key is never
printed: every line the command writes passes through a filter that masks it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from carto_async import __version__
from carto_async._core.credentials import ENV_API_KEY
from carto_async.cli._copy import copy_from_command, copy_to_command
from carto_async.cli._demo import demo_command
from carto_async.cli._export import export_command
from carto_async.cli._import import import_command
from carto_async.cli._maps import map_group
from carto_async.cli._output import redacted_output
from carto_async.cli._server import local_server_command
from carto_async.cli._sql import sql_command
from carto_async.cli._syncs import sync_group

__all__ = ["cli", "main"]


def _keys_in(args: Sequence[str]) -> list[str]:
    """The values given to ``--api-key`` in ``args``, before click parses them."""
    keys = []
    for i, arg in enumerate(args):
        if arg == "--api-key" and i + 1 < len(args):
            keys.append(args[i + 1])
        elif arg.startswith("--api-key="):
            keys.append(arg.split("=", 1)[1])
    return keys


class _RedactingGroup(click.Group):
    """A group whose whole run, parse errors included, writes through the key filter."""

    def main(self, args: Sequence[str] | None = None, *rest: Any, **kwargs: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        keys = [*_keys_in(argv), os.environ.get(ENV_API_KEY)]
        with redacted_output(keys):
            return super().main(argv, *rest, **kwargs)


@click.group(cls=_RedactingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="carto-async")
def cli() -> None:
    """Batch imports into CARTO, and a local CARTO-compatible server to try them on.

    Credentials come from --user, --api-key and --base-url, or from CARTO_USER,
    CARTO_API_KEY and CARTO_BASE_URL.
    """


cli.add_command(import_command)
cli.add_command(demo_command)
cli.add_command(local_server_command)
cli.add_command(sync_group)
cli.add_command(export_command)
cli.add_command(sql_command)
cli.add_command(copy_from_command)
cli.add_command(copy_to_command)
cli.add_command(map_group)


def main() -> None:
    """The ``carto-async`` entry point."""
    cli(prog_name="carto-async")
