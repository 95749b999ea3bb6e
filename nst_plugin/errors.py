"""Errors: the user's-mistake type every other error derives from, and how to tell them apart.

Raise `UserError` (or a subclass) for anything the user fixes: a setting, an input file, a
missing weights file. Its str() is one sentence that says what is wrong and what to do.
Any other exception from an engine is an engine failure. Third-party engines raise
`UserError` too, so every host (CLI, hot folder, service) reports their mistakes the same way.
"""

from __future__ import annotations


class UserError(ValueError):
    """A mistake the user fixes; str() is one sentence. `exit_code` is the CLI's exit status."""

    exit_code = 2


class RequestError(UserError):
    """A setting or option is wrong."""


class ImageError(UserError):
    """An input image cannot be read or an output cannot be written."""


class OutputExistsError(ImageError):
    """The output file exists and overwriting was not asked for."""


class WeightsError(UserError):
    """Network weights are missing, damaged or cannot be fetched.

    `reason` is a short machine-readable cause ("missing", "checksum", "layout", "network").
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class Cancelled(Exception):
    """The user asked the job to stop."""


EXIT_ENGINE, EXIT_INTERRUPTED = 1, 130


def is_user_error(err: BaseException) -> bool:
    """True for mistakes the user fixes, False for engine failures."""
    return isinstance(err, UserError)


def exit_code(err: BaseException) -> int:
    """The `nst` exit status for an error: 2 the user's mistake, 130 cancelled, 1 the engine."""
    if isinstance(err, UserError):
        return err.exit_code
    if isinstance(err, (Cancelled, KeyboardInterrupt)):
        return EXIT_INTERRUPTED
    return EXIT_ENGINE


def user_message(err: BaseException) -> str:
    """The error as one sentence, ready for a message, a log line or an error file."""
    if isinstance(err, Cancelled):
        return "the job was cancelled."
    text = " ".join(str(err).split())
    if not is_user_error(err):
        text = f"the engine failed ({type(err).__name__}: {text or 'no details'})"
    return text if text.endswith((".", "!", "?")) else text + "."


QUOTE_LIMIT = 60  # characters of a user's input an error sentence shows


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`value` as an error sentence shows it: text in quotes, numbers and lists as JSON
    writes them, on one line, cut to `limit` characters with an ellipsis; never a repr."""
    import json

    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=lambda v: type(v).__name__)
        except (TypeError, ValueError, RecursionError):  # a huge int, a deeply nested list
            text = "a value too long to show"
    text = "".join(c if c.isprintable() else " " for c in text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{text}'" if isinstance(value, str) else text
