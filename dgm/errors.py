"""One exception hierarchy for dgm; the CLI turns each into a one-line message."""

from __future__ import annotations


class DgmError(Exception):
    """Base of every error dgm raises on purpose. Exit code 1 unless a subclass says otherwise."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class BadInput(DgmError):
    """The user gave something we cannot use: a path, an id, a value. Exit code 2."""

    exit_code = 2


class ConfigError(BadInput):
    """A configuration key or value is wrong."""


class ArchiveError(DgmError):
    """The archive on disk is inconsistent or cannot be written."""


class NotAnArchive(BadInput):
    """A directory given as an archive is not one."""


class UnknownNode(BadInput):
    """A node id that the archive does not have."""


class SandboxError(DgmError):
    """The Docker engine or an image failed us (not the code inside the sandbox)."""


class ImageBuildError(SandboxError):
    """An image recipe could not be built."""


class ModelError(DgmError):
    """A model call failed after its retries, or the model settings are unusable."""


class BudgetExceeded(DgmError):
    """A dollar or token cap was reached; the next call is refused."""


class BenchError(DgmError):
    """A task instance could not be loaded, built, validated or graded."""


class AgentFailure(DgmError):
    """An agent variant crashed, hung or produced garbage (recorded, never fatal to the engine)."""
