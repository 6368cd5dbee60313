"""The CLI's one exception, and how it is shown to the user.

Every failure a user can act on (an API error, an unreachable server, a bad argument we check
locally) becomes a `CLIError`; the command group catches it in one place, prints
`error: <message> (<code>)` to stderr and exits with a meaningful code. Commands never print
errors themselves and never call `sys.exit`.
"""

from __future__ import annotations

from typing import Any

EXIT_ERROR = 1
"""The API refused the request or the user asked for something impossible."""

EXIT_USAGE = 2
"""The command line itself is wrong (the same code click uses for usage errors)."""


class CLIError(Exception):
    """A failure to report as `error: <message>`; `details` is the API's `details` object."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        details: dict[str, Any] | None = None,
        status: int | None = None,
        api_message: str | None = None,
        exit_code: int = EXIT_ERROR,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details or {}
        self.status = status
        self.api_message = api_message
        """The server's own message, kept when `message` was replaced by a friendlier one."""
        self.exit_code = exit_code


def usage_error(message: str) -> CLIError:
    return CLIError(message, code="usage", exit_code=EXIT_USAGE)
