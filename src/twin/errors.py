"""One error root for the whole project.

Every subclass carries what each front end needs as class attributes: the HTTP status (the API maps it in
one table), an OGC API exception code where one applies, and the CLI exit code. Library code raises these
and never exits or prints; only the CLI and the API turn them into output.
"""

from __future__ import annotations


class TwinError(Exception):
    """Root of all errors twin raises on purpose."""

    status_code: int = 500
    ogc_code: str = "ServerError"
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(TwinError):
    """A source file or argument cannot be used (wrong format, empty, unknown CRS, ...)."""

    status_code = 400
    ogc_code = "InvalidParameterValue"
    exit_code = 2


class CRSError(InputError):
    """The coordinate reference system is missing, unknown or cannot be transformed correctly."""


class GeoidGridMissingError(CRSError):
    """Heights refer to a geoid (e.g. NHN/DHHN2016) but the PROJ grid that converts them is not installed."""

    exit_code = 3


class NotFoundError(TwinError):
    """A layer, feature or file does not exist."""

    status_code = 404
    ogc_code = "NotFound"
    exit_code = 4


class ConflictError(TwinError):
    """A write would overwrite a concurrent change or an existing object."""

    status_code = 409
    ogc_code = "Conflict"
    exit_code = 5


class PreconditionFailedError(ConflictError):
    """An If-Match precondition did not hold."""

    status_code = 412


class AuthError(TwinError):
    """A write was attempted without a valid admin token."""

    status_code = 401
    ogc_code = "Unauthorized"
    exit_code = 6


class ForbiddenError(AuthError):
    """A valid token was used where it gives no right, e.g. one city's admin token on another city."""

    status_code = 403
    ogc_code = "Forbidden"


class ConfigError(TwinError):
    """Settings or the city profile are invalid."""

    exit_code = 7


class PublishError(TwinError):
    """A layer could not be published; the previous version stays in place."""

    exit_code = 8
