"""The package version, in a module of its own so that any module can import it without
importing the package (``carto_async/__init__.py`` imports the clients, which import the
transport, which needs the version)."""

__version__ = "0.1.0"
