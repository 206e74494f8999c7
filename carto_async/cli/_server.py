"""``carto-async local-server``: LocalCarto in the foreground, with optional injected faults."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from carto_async.cli._run import Problem

if TYPE_CHECKING:
    from carto_async.testing import Faults, LocalCarto

__all__ = ["faults_from_flags", "local_server_command", "parse_group_value"]


def parse_group_value(text: str, default_group: str) -> tuple[str, float]:
    """``"0.1"`` or ``"imports.create=0.1"`` as ``(group, value)``."""
    group, sep, value = text.rpartition("=")
    if not sep:
        group = default_group
    try:
        return group, float(value)
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected a number or GROUP=NUMBER") from None


def faults_from_flags(
    *, seed: int, latency: float, error_rates: tuple[str, ...], rate_limits: tuple[str, ...]
) -> Faults | None:
    """The :class:`Faults` the flags describe, or ``None`` for a well-behaved server."""
    from carto_async.testing import Faults, RateLimit  # noqa: PLC0415 - optional extra

    errors = dict(parse_group_value(t, "*") for t in error_rates)
    limits: dict[str, RateLimit] = {}
    for text in rate_limits:
        group, per_second = parse_group_value(text, "sql")
        if per_second < 1 or per_second != int(per_second):
            raise click.BadParameter(f"{text!r}: the limit is a whole number of requests a second")
        limits[group] = RateLimit(int(per_second))
    bad = [f"{g}={r}" for g, r in errors.items() if not 0 <= r <= 1]
    if bad:
        raise click.BadParameter(f"error rates are between 0 and 1: {', '.join(bad)}")
    if not (latency or errors or limits):
        return None
    return Faults(seed, latency=latency, error_rates=errors, rate_limits=limits)


def _announce(server: LocalCarto, key_given: bool) -> None:
    key = "<the key you gave>" if key_given else server.api_key
    click.echo(
        f"LocalCarto serving user {server.username} at {server.base_url} (Ctrl-C to stop)\n"
        "Point the SDK or the CLI at it with:\n"
        f"  export CARTO_USER={server.username}\n"
        f"  export CARTO_BASE_URL={server.base_url}\n"
        f"  export CARTO_API_KEY={key}"
    )


@click.command("local-server")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on (0: any free one).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--user", default="demo", show_default=True, help="The account's user name.")
@click.option(
    "--api-key", metavar="KEY", help="The master API key (default: a random one, printed)."
)
@click.option(
    "--db", type=click.Path(dir_okay=False), help="DuckDB file to keep tables in (default: memory)."
)
@click.option(
    "--seed-dir",
    type=click.Path(exists=True, file_okay=False),
    help="Import every file of this folder at start, one table each.",
)
@click.option(
    "--processing-time",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    help="Seconds each import takes to walk its states.",
)
@click.option(
    "--import-slots",
    type=click.IntRange(1),
    default=3,
    show_default=True,
    help="Imports a user may run at once before creates get 429 (CARTO's default: 3).",
)
@click.option(
    "--latency", type=click.FloatRange(min=0), default=0.0, help="Seconds added to every request."
)
@click.option(
    "--error-rate",
    "error_rates",
    multiple=True,
    metavar="[GROUP=]RATE",
    help="Answer this share of requests (0-1) with a 5xx; GROUP is a route group such as "
    "imports.create, imports or sql (default: every route). Repeatable.",
)
@click.option(
    "--rate-limit",
    "rate_limits",
    multiple=True,
    metavar="[GROUP=]N",
    help="Allow N requests a second, then 429 with Retry-After (default group: sql, the API "
    "CARTO rate-limits). Repeatable.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the faults.")
def local_server_command(
    *,
    port: int,
    host: str,
    user: str,
    api_key: str | None,
    db: str | None,
    seed_dir: str | None,
    processing_time: float,
    import_slots: int,
    latency: float,
    error_rates: tuple[str, ...],
    rate_limits: tuple[str, ...],
    seed: int,
) -> None:
    """Serve LocalCarto (Import API and SQL API) in the foreground until Ctrl-C."""
    try:
        from carto_async.testing import serve  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        raise Problem(
            f"local-server needs LocalCarto's dependencies ({exc.name} is missing): "
            "pip install 'carto-async[local]'"
        ) from None
    faults = faults_from_flags(
        seed=seed, latency=latency, error_rates=error_rates, rate_limits=rate_limits
    )
    options: dict[str, Any] = {
        "import_processing_time": processing_time,
        "import_slots": import_slots,
    }
    try:
        serve(
            port=port,
            host=host,
            username=user,
            api_key=api_key,
            db=db,
            seed_dir=seed_dir,
            faults=faults,
            ready=lambda server: _announce(server, api_key is not None),
            log_level="warning",
            **options,
        )
    except OSError as exc:
        raise Problem(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise Problem(str(exc)) from None
