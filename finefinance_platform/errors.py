"""The platform's error types: what the user can act on, as opposed to a bug.

The CLI prints a `FineFinanceError`'s message on one line and exits non-zero; each area derives its
own errors from it (the source, statements, access, production setup...).
"""

from __future__ import annotations


class FineFinanceError(Exception):
    """An error the user can act on: the CLI prints its message on one line and exits non-zero."""


class SettingsError(FineFinanceError, ValueError):
    """A setting from the environment (or an option) is missing or malformed; the message names it."""
