"""The error types every layer may raise and every entry point may catch.

No layer imports the command line to raise an error: the data layer, the store, the service
layer and the pages all raise these, and the CLI (or a page) turns them into a message
without a traceback.

- :class:`UserError`: input the user can fix (a path, an id, an option); the message says what
  and how. Every other "tell the user" error derives from it, so an entry point that catches
  ``UserError`` catches them all.
- :class:`ConfigError`: one configuration field cannot be used (``field`` names it).
"""

from __future__ import annotations


class UserError(Exception):
    """An error caused by input the user can fix; printed without a traceback."""


class ConfigError(UserError, ValueError):
    """A configuration value that cannot be used.

    Attributes:
        field: the config field at fault (e.g. ``"learning_rate"``).
        message: why, in words a user can act on.
    """

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
