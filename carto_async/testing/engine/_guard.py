"""What SQL from the SQL API may do: nothing that touches the host, and no writes without rights.

CARTO's SQL API runs as a database user that cannot read or write server files, attach
databases, load extensions or change server settings. LocalCarto refuses the same things
before DuckDB sees them (:func:`check_statement`), with the words PostgreSQL would use, and
the engine itself is locked after start-up (``enable_external_access=false``,
``lock_configuration=true``) as a second wall. :func:`write_target` tells which statements
write, for the keys that may not.
"""

from __future__ import annotations

from carto_async.testing.engine._errors import QueryError
from carto_async.testing.engine._sqltext import Statement, significant

__all__ = ["check_statement", "write_target"]

#: Statements a SQL API user may run (the first keyword).
_ALLOWED_FIRST = frozenset(
    [
        "select",
        "with",
        "values",
        "insert",
        "update",
        "delete",
        "create",
        "drop",
        "alter",
        "truncate",
        "begin",
        "start",
        "commit",
        "end",
        "rollback",
        "abort",
        "explain",
        "table",
        "grant",
        "revoke",
        "comment",
    ]
)
_SETTINGS = frozenset(("set", "reset", "show"))
#: Table and scalar functions that read files, run SQL text, or show the engine's settings.
_DENIED_FUNCTIONS = frozenset(
    [
        "read_csv",
        "read_csv_auto",
        "read_json",
        "read_json_auto",
        "read_json_objects",
        "read_ndjson",
        "read_ndjson_auto",
        "read_ndjson_objects",
        "read_json_objects_auto",
        "read_parquet",
        "parquet_scan",
        "parquet_metadata",
        "parquet_schema",
        "parquet_file_metadata",
        "parquet_kv_metadata",
        "read_text",
        "read_blob",
        "read_xlsx",
        "glob",
        "sniff_csv",
        "st_read",
        "st_read_meta",
        "st_readosm",
        "st_readshp",
        "st_drivers",
        "query",
        "query_table",
        "getenv",
        "current_setting",
        "which_secret",
        "sqlite_scan",
        "sqlite_attach",
        "postgres_scan",
        "postgres_attach",
        "mysql_scan",
        "delta_scan",
        "iceberg_scan",
        "load_aws_credentials",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "lo_import",
        "lo_export",
    ]
)
_DENIED_PREFIXES = ("duckdb_", "pragma_", "_carto")
#: Catalogue views that show the engine's settings (server paths among them).
_DENIED_VIEWS = frozenset(("pg_settings", "pg_file_settings", "pg_config"))
_CREATE_ALLOWED = frozenset(("table", "view", "index", "unique", "sequence", "schema"))
_CREATE_MODIFIERS = frozenset(("or", "replace", "temp", "temporary", "unlogged", "global", "local"))


def _first_words(statement: Statement, count: int) -> list[str]:
    return [t.lower() for k, t in significant(statement.tokens) if k == "ident"][:count]


def check_statement(statement: Statement) -> None:
    """Refuse what reads or writes host files, attaches, loads or changes settings."""
    sig = significant(statement.tokens)
    if not sig:
        return
    kind, text = sig[0]
    first = text.lower()
    if first in _SETTINGS:
        name = sig[1][1].lower() if len(sig) > 1 else ""
        raise QueryError(f'permission denied to set parameter "{name}"')
    if kind != "ident" or first not in _ALLOWED_FIRST:
        if first == "copy":
            raise QueryError(
                "must be superuser or a member of the pg_write_server_files role to COPY to"
                " or from a file"
            )
        raise QueryError(f'syntax error at or near "{text}"')
    if first == "create":
        words = _first_words(statement, 6)[1:]
        while words and words[0] in _CREATE_MODIFIERS:
            words = words[1:]
        if not words or words[0] not in _CREATE_ALLOWED:
            shown = words[0] if words else ""
            raise QueryError(f'syntax error at or near "{shown.upper()}"')
    for index, (kind, text) in enumerate(sig):
        if kind not in ("ident", "qident"):
            continue
        name = text.strip('"').lower()
        calls = index + 1 < len(sig) and sig[index + 1] == ("op", "(")
        if (calls and name in _DENIED_FUNCTIONS) or name.startswith(_DENIED_PREFIXES):
            raise QueryError(f"permission denied for function {name}")
        if name in _DENIED_VIEWS:
            raise QueryError(f"permission denied for view {name}")
        if name in ("from", "join") and index + 1 < len(sig) and sig[index + 1][0] == "string":
            raise QueryError(f'syntax error at or near "{sig[index + 1][1]}"')


_WRITE_WORDS = frozenset(("insert", "update", "delete", "truncate", "merge"))


def write_target(statement: Statement) -> tuple[str, str] | None:
    """``(verb, table)`` when the statement writes, else None.

    ``verb`` is ``write`` (rows of a table), ``drop`` or ``create``.
    """
    sig = significant(statement.tokens)
    if not sig:
        return None
    first = sig[0][1].lower()
    if first in ("create", "alter", "comment", "grant", "revoke"):
        return ("create", "") if first == "create" else ("write", _name_after(sig, 2))
    if first == "drop":
        return ("drop", _name_after(sig, 2))
    if first in ("select", "values", "table", "explain", "begin", "start", "commit", "end"):
        return _nextval(sig)
    if first in ("rollback", "abort"):
        return None
    depth = 0
    for index, (kind, text) in enumerate(sig):
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif depth == 0 and kind == "ident" and text.lower() in _WRITE_WORDS:
            word = text.lower()
            skip = {"insert": 2, "delete": 2, "update": 1, "truncate": 1, "merge": 2}[word]
            return ("write", _name_after(sig, index + skip))
    return _nextval(sig)


def _nextval(sig: list[tuple[str, str]]) -> tuple[str, str] | None:
    for index, (kind, text) in enumerate(sig):
        calls = index + 1 < len(sig) and sig[index + 1] == ("op", "(")
        if kind == "ident" and text.lower() in ("nextval", "setval") and calls:
            return ("write", "")
    return None


def _name_after(sig: list[tuple[str, str]], index: int) -> str:
    skip = ("table", "if", "exists", "only", "into", "from", "public", "cartodb", ".")
    while index < len(sig) and sig[index][1].lower() in skip:
        index += 1
    return sig[index][1].strip('"') if index < len(sig) else ""
