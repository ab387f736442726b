"""Every error Tessera raises on purpose, as one tree.

Services raise these; the CLI prints them as one line and exits non-zero, and the HTTP API (a later
issue) maps them to status codes in one place.

    TesseraError
    ├── InputError              the caller gave us something we cannot use
    │   ├── MediaError          a file that cannot be hashed as the media kind it claims
    │   │   └── MediaLimitExceeded   too big, too many pixels, too long
    │   ├── InvalidSignal       a malformed signal string
    │   ├── UnknownSignalType   a signal type name that is not registered
    │   ├── FormatError         a malformed import file (names the line)
    │   ├── FetchError          a URL whose content cannot be fetched for hashing
    │   │   ├── FetchDisabled        hashing by URL is off (the default)
    │   │   ├── FetchRefused         a scheme, address or content type that is not allowed
    │   │   └── FetchLimitExceeded   too big, too slow, too many redirects
    │   └── InvalidSetting      a setting or option out of range
    ├── AccessDenied            the caller may not do this
    │   ├── Unauthenticated     no token, an unknown or revoked one (HTTP 401)
    │   └── Forbidden           a token without the scope, or an org whose tier may not (HTTP 403)
    ├── NotFound                a bank or entry that does not exist
    ├── Conflict                a bank that already exists, an entry in the wrong state
    └── StoreError              the database refused or is at the wrong schema version
"""

from __future__ import annotations


class TesseraError(Exception):
    """The root of all errors Tessera raises on purpose."""


class InputError(TesseraError):
    """The caller gave us something we cannot use; the message says why."""


class MediaError(InputError):
    """A file cannot be decoded or hashed as the media kind it is."""


class MediaLimitExceeded(MediaError):
    """A file exceeds a configured limit (bytes, pixels, duration)."""


class InvalidSignal(InputError):
    """A signal string is malformed for its signal type."""


class UnknownSignalType(InputError):
    """No signal type of that name is registered."""


class FormatError(InputError):
    """An import file is malformed."""


class FetchError(InputError):
    """A URL's content cannot be fetched for hashing; the message names the URL and why."""


class FetchDisabled(FetchError):
    """Hashing by URL is turned off (``fetch_urls_enabled``)."""


class FetchRefused(FetchError):
    """A URL's scheme, resolved address or content type is not allowed."""


class FetchLimitExceeded(FetchError):
    """A fetch went over a limit: size, time or redirects."""


class InvalidSetting(InputError):
    """A setting or option is out of its allowed range."""


class AccessDenied(TesseraError):
    """The caller may not do what it asked."""


class Unauthenticated(AccessDenied):
    """No valid token was presented (missing, malformed, unknown or revoked)."""


class Forbidden(AccessDenied):
    """The token lacks the scope, or the org's tier or the bank's distribution forbid it."""


class NotFound(TesseraError):
    """A bank or entry does not exist."""


class Conflict(TesseraError):
    """The request conflicts with the current state (e.g. a bank name already taken)."""


class StoreError(TesseraError):
    """The database refused an operation or is at the wrong schema version."""
