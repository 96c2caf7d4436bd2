"""The command line: parsing, the operator's commands, and rendering their results."""

from modemd.cli.main import main

__all__ = ["main"]
