"""The whole brightline error tree.

Every error carries the HTTP status a service should answer with, so the CLI and the
API report the same failure the same way. Functions raise these instead of returning
empty strings or None to mean failure.
"""

from __future__ import annotations


class BrightlineError(Exception):
    """Base of every error brightline raises on purpose."""

    http_status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigurationError(BrightlineError):
    """A setting is missing, malformed or unsafe for this environment."""

    http_status = 500
    code = "configuration_error"


# --- media -------------------------------------------------------------------------


class MediaError(BrightlineError):
    """A media file could not be turned into signals."""

    http_status = 422
    code = "media_error"


class MediaUnreadableError(MediaError):
    """The file cannot be read (missing, permissions, a directory)."""

    code = "media_unreadable"


class EmptyMediaError(MediaError):
    """The file holds zero bytes."""

    code = "media_empty"


class UnsupportedMediaError(MediaError):
    """The bytes are not in a format brightline decodes."""

    http_status = 415
    code = "media_unsupported"


class CorruptMediaError(MediaError):
    """The format was recognised but decoding failed (truncated or damaged data)."""

    code = "media_corrupt"


class MediaTooLargeError(MediaError):
    """The image has more pixels than the configured limit (a decompression bomb guard)."""

    http_status = 413
    code = "media_too_large"


# --- signals and hash lists ---------------------------------------------------------


class SignalError(BrightlineError):
    """A hash value or signal type is not valid."""

    http_status = 422
    code = "signal_error"


class UnknownSignalTypeError(SignalError):
    """No signal type is registered under that name."""

    code = "unknown_signal_type"


class InvalidSignalValueError(SignalError):
    """A hash value is malformed for its signal type (bad hex, wrong length...)."""

    code = "invalid_signal_value"


class HashListFormatError(BrightlineError):
    """A hash-list file is malformed; the message names the file and line."""

    http_status = 422
    code = "hash_list_format"

    def __init__(self, message: str, *, source: str = "", line: int | None = None) -> None:
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {message}" if where else message)
        self.source = source
        self.line = line
        self.reason = message


# --- store ----------------------------------------------------------------------------


class StoreError(BrightlineError):
    """The database could not do what was asked."""

    http_status = 500
    code = "store_error"


class NotFoundError(BrightlineError):
    """A named object (bank, entry...) does not exist."""

    http_status = 404
    code = "not_found"


class BankNotFoundError(NotFoundError):
    """No bank has that name."""

    code = "bank_not_found"


class EntryNotFoundError(NotFoundError):
    """No bank entry has that id."""

    code = "entry_not_found"


class ConflictError(BrightlineError):
    """The request conflicts with existing state (a duplicate name...)."""

    http_status = 409
    code = "conflict"


class BankExistsError(ConflictError):
    """A bank with that name already exists."""

    code = "bank_exists"


class ValidationError(BrightlineError):
    """An argument is out of range or malformed."""

    http_status = 422
    code = "validation_error"


# --- index ----------------------------------------------------------------------------


class SearchIndexError(BrightlineError):
    """An index could not be built, loaded or queried."""

    http_status = 500
    code = "index_error"


class IndexFormatError(SearchIndexError):
    """A persisted index file is damaged or of an unknown version."""

    code = "index_format"


# --- API access -----------------------------------------------------------------------


class AuthenticationError(BrightlineError):
    """No credentials, or credentials that do not name a live API key (message kept generic)."""

    http_status = 401
    code = "unauthenticated"


class PermissionDeniedError(BrightlineError):
    """The API key is valid but lacks the scope the operation needs."""

    http_status = 403
    code = "forbidden"


class RateLimitedError(BrightlineError):
    """The API key has used up its request budget; ``retry_after`` says how many seconds to wait."""

    http_status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PayloadTooLargeError(BrightlineError):
    """The request body is larger than the configured limit."""

    http_status = 413
    code = "payload_too_large"


class ApiKeyNotFoundError(NotFoundError):
    """No API key has that id."""

    code = "api_key_not_found"


class ScanRecordNotFoundError(NotFoundError):
    """No scan record matches (for example, an unknown idempotency key)."""

    code = "scan_record_not_found"


class UnsupportedContentTypeError(BrightlineError):
    """A request body's Content-Type is not one the endpoint takes."""

    http_status = 415
    code = "unsupported_content_type"


# --- after a match: cases, evidence, rules, reports, appeals -------------------------------


class CaseNotFoundError(NotFoundError):
    """No review case has that id."""

    code = "case_not_found"


class CaseStateError(ConflictError):
    """The case is not in a state that allows this step (already decided, claimed by someone else...)."""

    code = "case_state"


class ReviewCapReachedError(BrightlineError):
    """The reviewer has decided their configured number of items today (wellbeing cap)."""

    http_status = 429
    code = "review_cap_reached"


class RuleError(ValidationError):
    """A rule or rule file is malformed (unknown action, bad threshold, unknown field)."""

    code = "rule_invalid"


class RuleNotFoundError(NotFoundError):
    """No rule has that name."""

    code = "rule_not_found"


class EvidenceError(BrightlineError):
    """Evidence could not be stored or read (missing file, failed authentication of the ciphertext)."""

    http_status = 500
    code = "evidence_error"


class EvidenceNotFoundError(NotFoundError):
    """No evidence is kept for that scan or id (it never matched, or it was deleted)."""

    code = "evidence_not_found"


class LegalHoldError(ConflictError):
    """The data is under an active legal hold or preservation period and cannot be deleted."""

    code = "legal_hold"


class HoldNotFoundError(NotFoundError):
    """No legal hold has that id."""

    code = "hold_not_found"


class ReportNotAllowedError(ConflictError):
    """A report was asked for a case no human has confirmed (never allowed), or one already sent."""

    code = "report_not_allowed"


class ReportNotFoundError(NotFoundError):
    """No report has that id."""

    code = "report_not_found"


class ReportDeliveryError(BrightlineError):
    """The report destination refused the report or could not be reached (retry later)."""

    http_status = 502
    code = "report_delivery_failed"


class ReportOutcomeUnknownError(ReportDeliveryError):
    """A report was sent but no answer came back: it may exist remotely, so it is not sent again blindly."""

    code = "report_outcome_unknown"


class AppealNotFoundError(NotFoundError):
    """No appeal has that id."""

    code = "appeal_not_found"


class AuditError(BrightlineError):
    """An audit record could not be written (details not JSON, too large, or holding a forbidden field)."""

    http_status = 500
    code = "audit_error"


class RetentionBusyError(ConflictError):
    """Another retention run holds the single-runner guard; this one did not start."""

    code = "retention_busy"


# --- hash-list sources -----------------------------------------------------------------------


class SourceError(BrightlineError):
    """A hash-list source failed in a way worth retrying later (network, 5xx, rate limit, bad page)."""

    http_status = 502
    code = "source_failed"


class SourceAuthError(SourceError):
    """The source refused the configured credentials (expired or wrong token)."""

    code = "source_auth_failed"


class SourceNotFoundError(NotFoundError):
    """No source is configured under that name."""

    code = "source_not_found"


class SourceExistsError(ConflictError):
    """A source with that name is already configured."""

    code = "source_exists"


class SourcePausedError(ConflictError):
    """The source is paused (an implausible change waits for an admin, or an admin paused it)."""

    code = "source_paused"


class FeedbackUnsupportedError(BrightlineError):
    """The source takes no feedback from its users."""

    http_status = 501
    code = "feedback_unsupported"


# --- scale-out (backlog scans on Ray) --------------------------------------------------------


class ScaleOutError(BrightlineError):
    """A backlog scan could not run: the Ray extra is missing, the cluster failed or an input cannot be listed."""

    http_status = 500
    code = "scaleout_failed"
