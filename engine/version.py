"""The package's version: pyproject.toml reads it from here (`pip install .`), `--version` prints it."""

__version__ = "0.2.0"
