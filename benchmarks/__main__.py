"""``python -m benchmarks``: run every benchmark (or ``--only`` some) and print their tables.

    python -m benchmarks                          # all of them, default sizes
    python -m benchmarks --only batch overhead    # some of them
    python -m benchmarks --smoke                  # tiny sizes, a few seconds
    python -m benchmarks --files 120 --requests 5000 --upload-mib 256 --output out.txt

Every option of every benchmark is accepted here (``--help`` lists them by group).
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from benchmarks import BENCHMARKS, SMOKE_ARGS
from benchmarks._common import CPUShare, machine_facts, wait_for_quiet


def _modules(names: Sequence[str]) -> dict[str, ModuleType]:
    return {name: importlib.import_module(BENCHMARKS[name]) for name in names}


def build_parser(modules: dict[str, ModuleType]) -> argparse.ArgumentParser:
    """One parser with the options of every benchmark."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run the carto_async benchmarks against LocalCarto over loopback.",
    )
    parser.add_argument(
        "--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS),
        help="benchmarks to run (all)",
    )  # fmt: skip
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes: check every path runs, in seconds"
    )
    parser.add_argument("--output", type=Path, help="also write everything printed to this file")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each benchmark, wait up to this many seconds for other work on the "
        "machine to calm down (60; 0 to skip)",
    )
    for module in modules.values():
        module.add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> str:
    """Run the benchmarks; return everything printed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    modules = _modules(list(BENCHMARKS))
    parser = build_parser(modules)
    args = parser.parse_args(argv)
    if args.smoke:
        # The smoke sizes first, so that options given on the command line win.
        args = parser.parse_args(
            [*itertools.chain(*SMOKE_ARGS.values()), "--quiet-wait", "0", *argv]
        )
    command = shlex.join(["python", "-m", "benchmarks", *argv])
    header = ["carto_async benchmarks", ""]
    header += [f"{k:<22} {v}" for k, v in machine_facts(command)]
    text = "\n".join(header)
    print(text + "\n", flush=True)
    parts = [text]
    for name in args.only:
        if args.quiet_wait > 0:
            note = wait_for_quiet(args.quiet_wait)
            print(note, flush=True)
            parts.append(note)
        with CPUShare() as share:
            parts.append(modules[name].run(args))
        print(share.describe() + "\n", flush=True)
        parts[-1] += "\n" + share.describe()
    output = "\n\n".join(parts) + "\n"
    if args.output is not None:
        args.output.write_text(output, encoding="utf-8")
    return output


if __name__ == "__main__":
    main()
