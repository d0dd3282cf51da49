"""Errors raised by geoaccess.

Every error subclasses :class:`GeoaccessError`; input problems are also ``ValueError`` so
callers can catch either the project-specific or the builtin family.
"""

from __future__ import annotations


class GeoaccessError(Exception):
    """Base class of every error geoaccess raises on purpose."""


class InputError(GeoaccessError, ValueError):
    """An input file or argument is unusable; the message names the file, the rows and the fix."""

    def __init__(self, message: str, *, path: object = None, problems: list[str] | None = None):
        self.path = None if path is None else str(path)
        self.problems = list(problems or [])
        text = message
        if self.path:
            text = f"{self.path}: {text}"
        if self.problems:
            shown = self.problems[:50]
            text += "\n" + "\n".join(f"  - {p}" for p in shown)
            if len(self.problems) > len(shown):
                text += f"\n  ... and {len(self.problems) - len(shown)} more"
        super().__init__(text)


class ConfigError(InputError):
    """A study or scenario file has an unknown key, a missing key or a value out of range."""
