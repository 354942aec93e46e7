"""The ``qiflow`` command line (``qiflow --help``)."""

from qiflow.cli.main import main

__all__ = ["main"]
