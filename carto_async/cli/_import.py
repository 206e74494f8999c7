"""``carto-async import``: many files, directories, globs and URLs into one CARTO account."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import click

from carto_async import PollPolicy
from carto_async._core.credentials import Credentials
from carto_async._core.imports import ImportOptions
from carto_async.cli._batch import ANSWER_GRACE
from carto_async.cli._output import add_secret
from carto_async.cli._run import LOCAL_POLL, Display, ImportRun, Problem, Settings
from carto_async.cli._sources import expand_sources
from carto_async.errors import ValidationError

__all__ = [
    "credential_options",
    "import_command",
    "local_server",
    "logging_to_stderr",
    "resolve_credentials",
]

F = TypeVar("F", bound=Callable[..., Any])


def credential_options(func: F) -> F:
    """``--user``, ``--api-key``, ``--base-url``, ``--allow-insecure-http`` and ``--local``."""
    options = [
        click.option("--user", metavar="NAME", help="CARTO user name [env: CARTO_USER]."),
        click.option(
            "--api-key",
            metavar="KEY",
            help="The account's master API key [env: CARTO_API_KEY; prefer the variable: "
            "a command line is visible to other users of the machine]. Never printed.",
        ),
        click.option(
            "--base-url",
            metavar="URL",
            help="The account's URL, default https://USER.carto.com "
            "(on premise: https://HOST/user/USER) [env: CARTO_BASE_URL].",
        ),
        click.option(
            "--allow-insecure-http",
            is_flag=True,
            help="Send the key over plain http:// to a server other than this machine "
            "(an on-premise server without TLS).",
        ),
        click.option(
            "--local",
            is_flag=True,
            help="Import into an embedded LocalCarto (needs the [local] extra); "
            "its data is gone when the command ends.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def resolve_credentials(
    user: str | None,
    api_key: str | None,
    base_url: str | None,
    environ: Mapping[str, str] | None = None,
    *,
    allow_insecure_http: bool = False,
) -> Credentials:
    """Credentials from the flags, falling back to the environment, checked before any request.

    The environment is read by :meth:`Credentials.from_env`, the SDK's one reader of it.
    """
    add_secret(api_key)
    local = "or use --local to try it on an embedded test server"
    try:
        credentials = Credentials.from_env(
            environ,
            username=user or None,
            api_key=api_key,
            base_url=base_url or None,
            allow_insecure_http=allow_insecure_http,
        )
    except ValidationError as exc:
        raise Problem(*(_as_flags(p, local) for p in exc.problems)) from None
    add_secret(credentials.api_key)
    if credentials.api_key is None:
        raise Problem(
            "no CARTO credentials: give the master API key (--api-key or CARTO_API_KEY), " + local
        )
    return credentials


#: The SDK names its Python arguments; here the way to say them is a flag.
_FLAGS = {
    "allow_insecure_http=True": "--allow-insecure-http",
    "leave api_key out (None)": "leave --api-key out",
    "give the key as api_key": "give the key with --api-key or CARTO_API_KEY",
    "api_key is empty": "the API key is empty",
    "api_key has": "the API key has",
}


def _as_flags(problem: str, local: str) -> str:
    for python, flag in _FLAGS.items():
        problem = problem.replace(python, flag)
    if problem.startswith("no CARTO credentials"):
        problem += f"; or give --user and --api-key, {local}"
    return problem


@contextlib.contextmanager
def local_server(user: str | None, api_key: str | None, **options: Any) -> Iterator[Credentials]:
    """An embedded LocalCarto for the duration of the block, and its credentials.

    ``options`` go to :class:`~carto_async.testing.LocalCarto`.
    """
    try:
        from carto_async.testing import LocalCarto  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        raise Problem(
            f"--local needs LocalCarto's dependencies ({exc.name} is missing): "
            "pip install 'carto-async[local]'"
        ) from None
    with LocalCarto(username=user or "demo", api_key=api_key, **options) as server:
        add_secret(server.api_key)
        yield Credentials(server.username, api_key=server.api_key, base_url=server.base_url)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time: the key filter, and while the live
    display runs, rich's proxy that prints above it."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


@contextlib.contextmanager
def logging_to_stderr(verbose: int) -> Iterator[None]:
    """With -v, the SDK's retries and waits; with -vv, every request too (keys redacted)."""
    if not verbose:
        yield
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    names = ["carto_async"] + (["httpx"] if verbose > 1 else [])
    loggers = [logging.getLogger(n) for n in names]
    saved = [(log, log.level) for log in loggers]
    for log in loggers:
        log.addHandler(handler)
        log.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    try:
        yield
    finally:
        for log, level in saved:
            log.removeHandler(handler)
            log.setLevel(level)


def import_options(
    *,
    privacy: str | None,
    collision_strategy: str | None,
    create_vis: bool,
    no_type_guessing: bool,
    no_quoted_fields_guessing: bool,
    content_guessing: bool,
) -> dict[str, Any]:
    """The SDK's import options for the flags given; the server's defaults for the rest."""
    chosen: dict[str, Any] = {
        "privacy": privacy,
        "collision_strategy": collision_strategy,
        "create_vis": True if create_vis else None,
        "type_guessing": False if no_type_guessing else None,
        "quoted_fields_guessing": False if no_quoted_fields_guessing else None,
        "content_guessing": True if content_guessing else None,
    }
    try:
        ImportOptions.build(**chosen)
    except ValidationError as exc:
        raise Problem(*exc.problems) from None
    return {k: v for k, v in chosen.items() if v is not None}


def poll_policy(interval: float | None, *, local: bool) -> PollPolicy | None:
    """The spacing of status polls: ``--poll-interval``, else fast for LocalCarto, else the
    SDK's default."""
    if interval is not None:
        return PollPolicy(initial=interval, cap=max(interval, PollPolicy().cap))
    return LOCAL_POLL if local else None


@click.command("import")
@click.argument("sources", nargs=-1, required=True, metavar="PATH_OR_GLOB_OR_URL...")
@credential_options
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Uploads in flight at once (status polls are cheap and not counted).",
)
@click.option(
    "--max-imports",
    type=click.IntRange(0, 100),
    default=3,
    show_default=True,
    help="Imports running on the server at once, uploads included: CARTO gives each user 3 "
    "import slots by default, so uploads in flight are at most this many. 0: no cap here "
    "(the server's 429 answers are then waited out).",
)
@click.option(
    "--privacy",
    type=click.Choice(["public", "private", "link"], case_sensitive=False),
    help="Privacy of the datasets created (default: the account's).",
)
@click.option(
    "--collision-strategy",
    type=click.Choice(["skip", "overwrite"]),
    help="When a table of the same name exists: leave it, or replace it "
    "(default: import under a new name such as stores_1).",
)
@click.option("--create-vis", is_flag=True, help="Create a map of each dataset too.")
@click.option("--no-type-guessing", is_flag=True, help="Keep every column as text.")
@click.option("--no-quoted-fields-guessing", is_flag=True, help="Keep quoted values as text.")
@click.option(
    "--content-guessing", is_flag=True, help="Guess geometry from place names (geocoding)."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="How long to wait for each import after its upload; one still running then is "
    "reported as a timeout and goes on on the server.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Wait before each import's first status poll (default 1; then x1.5 per poll, up to "
    "30 s). Lower it for many small files.",
)
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False),
    help="Record each source's job and outcome in FILE; a re-run with the same FILE skips "
    "what completed, resumes what was running, retries what failed.",
)
@click.option(
    "--stop-grace",
    type=click.FloatRange(min=0),
    default=ANSWER_GRACE,
    show_default=True,
    metavar="SECONDS",
    help="After Ctrl-C or SIGTERM, how long to wait for the answers to uploads already sent, "
    "so that their imports are recorded and resumed rather than left in doubt (keep it under "
    "the time your supervisor gives before SIGKILL, e.g. docker stop's 10 s).",
)
@click.option(
    "--retry-unknown",
    is_flag=True,
    help="Upload again the sources whose earlier create request got no answer "
    "(they may have been imported).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per result on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress; only what did not import.")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="The server's advice on failures, and retries (-vv: requests).",
)
def import_command(
    *,
    sources: tuple[str, ...],
    user: str | None,
    api_key: str | None,
    base_url: str | None,
    allow_insecure_http: bool,
    local: bool,
    concurrency: int,
    max_imports: int,
    privacy: str | None,
    collision_strategy: str | None,
    create_vis: bool,
    no_type_guessing: bool,
    no_quoted_fields_guessing: bool,
    content_guessing: bool,
    timeout: float | None,
    poll_interval: float | None,
    manifest: str | None,
    stop_grace: float,
    retry_unknown: bool,
    as_json: bool,
    quiet: bool,
    verbose: int,
) -> None:
    """Import files, directories (recursively), globs and http(s) URLs, several at once.

    Exit status: 0 when every source was imported, 1 when some were not, 2 for bad usage
    (nothing was uploaded), 130 after Ctrl-C and 143 after SIGTERM (resume with --manifest).
    """
    expansion = expand_sources(sources)
    problems = expansion.messages()
    options = import_options(
        privacy=privacy.lower() if privacy else None,
        collision_strategy=collision_strategy,
        create_vis=create_vis,
        no_type_guessing=no_type_guessing,
        no_quoted_fields_guessing=no_quoted_fields_guessing,
        content_guessing=content_guessing,
    )
    if local and base_url:
        problems.append("--local and --base-url cannot go together")
    if local and manifest:
        problems.append(
            "--manifest cannot be used with --local: the embedded server forgets every "
            "import when the command ends, so there would be nothing to resume"
        )
    if problems:
        raise Problem(*problems)
    display = Display(json=as_json, quiet=quiet, verbose=verbose)
    if expansion.skipped and not quiet:
        names = ", ".join(expansion.skipped[:5]) + (", ..." if len(expansion.skipped) > 5 else "")
        click.echo(
            f"passing over {len(expansion.skipped)} file(s) of types the importer does not "
            f"know: {names}",
            err=True,
        )
    settings = Settings(
        options=options,
        concurrency=concurrency,
        max_imports=max_imports,
        timeout=timeout,
        retry_unknown=retry_unknown,
        poll=poll_policy(poll_interval, local=local),
        answer_grace=stop_grace,
    )
    with contextlib.ExitStack() as stack:
        if local:
            credentials = stack.enter_context(local_server(user, api_key))
        else:
            credentials = resolve_credentials(
                user, api_key, base_url, allow_insecure_http=allow_insecure_http
            )
        stack.enter_context(logging_to_stderr(verbose))
        run = ImportRun(
            credentials,
            expansion.sources,
            settings=settings,
            display=display,
            manifest_path=manifest,
            save_leftovers=not local,
        )
        status = run.run()
    click.get_current_context().exit(status)
