"""``python -m carto_async.cli``: the same as the ``carto-async`` command."""

from carto_async.cli import main

main()
