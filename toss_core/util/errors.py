"""Errors a user can act on. The CLI prints their message on one line and exits non-zero."""


class TossError(Exception):
    """Base class: the message names the file, column or key, what was expected and what was found."""


class DataError(TossError):
    """Bad input data: a missing column, an unreadable dtype, an empty file, a malformed token."""


class ArtifactError(TossError):
    """A missing or inconsistent artifact: no checkpoints, a fingerprint mismatch, an incomplete cache."""


class StopTraining(TossError):
    """Raised by an epoch callback to stop a fold early (a pruned tuning trial); no model is written."""
