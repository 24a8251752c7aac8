"""User-facing errors.

Every error a user can cause (bad config, missing data, corrupt file) is a ``GankitError``
whose message says what is wrong and what to do. The CLI prints these without a traceback.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class GankitError(Exception):
    """An error caused by the user's input, with a message that says how to fix it."""


class ConfigError(GankitError):
    """Unknown key, wrong type or invalid value in a configuration."""


class DataError(GankitError):
    """A dataset that cannot be found, read or used."""


class CheckpointError(GankitError):
    """A checkpoint that is missing, truncated, or belongs to something else."""


class TrainingError(GankitError):
    """Training had to stop (non-finite loss, unusable output folder, ...)."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return '; did you mean X?' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""
