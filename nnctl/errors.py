"""nnctl's own exceptions. The core raises them; only cli.py turns them into messages and exit codes."""

from __future__ import annotations

import difflib
from enum import IntEnum


class ExitStatus(IntEnum):
    """Exit codes that scripts can trust (README, "Exit codes")."""

    OK = 0
    FAILED = 1  # training diverged, or a gradient check found a mismatch
    BAD_INPUT = 2
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
    TERMINATED = 143  # SIGTERM (batch schedulers, container runtimes, `timeout`)


class NnctlError(Exception):
    """Base of every error nnctl reports to the user: one message, one exit code."""

    exit_status = ExitStatus.BAD_INPUT

    def __init__(self, message: str, *, source: str | None = None, where: str | None = None):
        self.message = message
        self.source = source
        self.where = where
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = [p for p in (self.source, self.where) if p]
        return ": ".join([*parts, self.message])


class ConfigError(NnctlError):
    """The YAML config (or a --set override) is malformed or invalid."""


class DataError(NnctlError):
    """A CSV file or a built-in data set cannot give the rows the config asks for."""


class ModelFileError(NnctlError):
    """A model file is missing, corrupt, hostile or does not fit the command."""


class PluginError(NnctlError):
    """A user-written activation plugin cannot be loaded or misbehaves."""


class UsageError(NnctlError):
    """A command-line value is wrong (an output path that cannot be written, a bad flag value)."""


class WriteError(NnctlError):
    """An output cannot be written: a full disk, a file-size limit, no permission, an output path
    that is a device or a folder. Bad environment, not divergence: exit 2."""


class DivergedError(NnctlError):
    """Training produced a non-finite loss or weight."""

    exit_status = ExitStatus.FAILED

    def __init__(self, epoch: int, what: str):
        self.epoch = epoch
        super().__init__(f"training diverged at epoch {epoch}: {what} is not finite "
                         "(try a smaller learning rate); no model file was written")


def did_you_mean(word: str, choices) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when none is close."""
    by_lower = {str(c).lower(): str(c) for c in choices}  # `MSE` means `mse`
    close = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""
