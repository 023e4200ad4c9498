"""Errors whose messages tell the user how to fix the problem."""

from __future__ import annotations


class CitebotError(Exception):
    """Base of every error citebot shows to a user: the message says what to do."""


class UnreadableFileError(CitebotError):
    """A corpus file that cannot be ingested; it is skipped and the rest goes on."""


class IndexMismatchError(CitebotError):
    """The index was built with another embedding model than the one configured."""


class EmptyIndexError(CitebotError):
    """Nothing has been ingested yet."""


class EmbeddingModelError(CitebotError):
    """The embedding model cannot be loaded or reached."""


class IndexUnavailableError(CitebotError):
    """The Chroma store cannot be opened or reached."""
