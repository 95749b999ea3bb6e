"""The errors a plug-in shows, each as one sentence."""

from __future__ import annotations


class ServiceError(Exception):
    """A failure talking to the service, as one sentence that never shows the access token.

    ``status``: the HTTP status of the service's error answer, or None.
    """

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


class Cancelled(ServiceError):
    """The job was cancelled (or waiting for it was stopped from another thread)."""


class PluginError(Exception):
    """A user's mistake, or a state the plug-in cannot work with, as one sentence."""


def sentence(text: object) -> str:
    """``text`` as one sentence: white space folded, ending with a full stop."""
    text = " ".join(str(text).split())
    if not text:
        return "Neural Style failed without saying why."
    return text if text[-1] in ".!?" else text + "."


def error_sentence(exc: BaseException, log: str = "the editor's log") -> str:
    """The one sentence a user sees for ``exc``.

    Our own errors already are that sentence; anything else is a bug, named with its type so
    that a report can find it in ``log``.
    """
    if isinstance(exc, (PluginError, ServiceError)):
        return sentence(exc)
    detail = " ".join(str(exc).split()).rstrip(".") or "no details"
    return sentence(
        "Neural Style failed unexpectedly (%s: %s); please report this with %s"
        % (type(exc).__name__, detail, log)
    )
