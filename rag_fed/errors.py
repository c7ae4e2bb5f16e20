"""The one error hierarchy of rag-fed: every error a user can see is a ``RagFedError``.

The leaf packages (``connectors``, ``indexes``) may not import ``rag_fed``, so they raise their own small
error classes; :func:`from_leaf_error` turns those into this hierarchy at the one boundary where rag_fed
calls them. ``api`` maps each class to an HTTP status in one table.
"""

from __future__ import annotations

from connectors.errors import (
    ConnectorError,
    CorruptFileError,
    EmptyFileError,
    FileTooLargeError,
    UnsupportedFormatError,
)
from indexes.errors import IndexCorruptError, IndexMismatchError, IndexStoreError, UnknownRecordError

__all__ = [
    "AuthError",
    "BusyError",
    "ConfigError",
    "CorruptDocumentError",
    "DocumentTooLargeError",
    "EmptyDocumentError",
    "EnvelopeError",
    "ExpiredEnvelopeError",
    "ForbiddenError",
    "ForgedEnvelopeError",
    "GatewayBusyError",
    "IndexIntegrityError",
    "InputError",
    "ModelError",
    "NotFoundError",
    "RagFedError",
    "ReplayedEnvelopeError",
    "SiteBusyError",
    "SiteUnavailableError",
    "TamperedEnvelopeError",
    "TrainingError",
    "TrainingOptionsError",
    "UnknownDocumentError",
    "UnknownSiteError",
    "UnsupportedDocumentError",
    "WrongRecipientError",
    "from_leaf_error",
]


class RagFedError(Exception):
    """Base of every error rag-fed raises on purpose. The message says what is wrong and what to do."""


class ConfigError(RagFedError):
    """Settings are missing, malformed or unsafe; the message names the setting (or variable) at fault."""


class InputError(RagFedError):
    """Input from a user or a file was rejected; nothing already stored was changed."""


class UnsupportedDocumentError(InputError):
    """The file's format is not one rag-fed can ingest."""


class CorruptDocumentError(InputError):
    """The file claims a supported format but cannot be parsed."""


class EmptyDocumentError(InputError):
    """The file holds no text to index."""


class DocumentTooLargeError(InputError):
    """The file or upload exceeds the configured size limit."""


class NotFoundError(RagFedError):
    """A named thing (site, document, model version, key) does not exist."""


class UnknownSiteError(NotFoundError):
    """No site with that id is initialised or registered."""


class UnknownDocumentError(NotFoundError):
    """No document with that id is stored at the site."""


class IndexIntegrityError(RagFedError):
    """A stored index is corrupt or does not match its manifest; it is never used silently."""


class ModelError(RagFedError):
    """An embedder or generator could not be loaded or failed to run."""


class TrainingError(RagFedError):
    """Federated fine-tuning could not start or failed."""


class TrainingOptionsError(ConfigError, TrainingError):
    """The training options asked for do not combine (e.g. DP-SGD with the in-batch loss); nothing ran."""


class SiteUnavailableError(RagFedError):
    """A site did not answer in time or answered with an error."""


class BusyError(RagFedError):
    """Alive, but doing as much as it admits; try again after ``retry_after_s`` seconds (HTTP 429)."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)


class SiteBusyError(SiteUnavailableError, BusyError):
    """A site has as much model work queued as it admits. The site is alive: a router does not count it
    against the site's breaker."""


class GatewayBusyError(BusyError):
    """The caller (or all callers together) has as many answers in progress at the gateway as it admits."""


class AuthError(RagFedError):
    """The caller is not authenticated (missing or unknown API key)."""


class ForbiddenError(AuthError):
    """The caller is authenticated but its role may not do this."""


class EnvelopeError(RagFedError):
    """A sealed envelope was rejected."""


class ForgedEnvelopeError(EnvelopeError):
    """The envelope was not sealed by a known sender."""


class TamperedEnvelopeError(EnvelopeError):
    """The envelope's ciphertext or header was modified in transit."""


class ReplayedEnvelopeError(EnvelopeError):
    """The envelope's nonce was already seen."""


class ExpiredEnvelopeError(EnvelopeError):
    """The envelope's timestamp is outside the accepted window."""


class WrongRecipientError(EnvelopeError):
    """The envelope is addressed to another site."""


_LEAF_MAP: tuple[tuple[type[Exception], type[RagFedError]], ...] = (
    (UnsupportedFormatError, UnsupportedDocumentError),
    (CorruptFileError, CorruptDocumentError),
    (EmptyFileError, EmptyDocumentError),
    (FileTooLargeError, DocumentTooLargeError),
    (ConnectorError, InputError),
    (UnknownRecordError, UnknownDocumentError),
    (IndexCorruptError, IndexIntegrityError),
    (IndexMismatchError, IndexIntegrityError),
    (IndexStoreError, RagFedError),
)


def from_leaf_error(error: Exception) -> RagFedError:
    """Translate an error raised by ``connectors`` or ``indexes`` into the rag-fed hierarchy.

    Anything that is already a ``RagFedError`` is returned unchanged; an unknown error is wrapped in
    ``RagFedError`` with its message, so callers can always ``raise from_leaf_error(e) from e``.
    """
    if isinstance(error, RagFedError):
        return error
    for leaf_type, ours in _LEAF_MAP:
        if isinstance(error, leaf_type):
            return ours(str(error))
    return RagFedError(str(error))
