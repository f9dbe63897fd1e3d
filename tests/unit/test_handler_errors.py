"""The handlers' permanent errors: one base class, a stable code each (the failure record's reason)."""

from __future__ import annotations

from handler.errors import (
    KeyTooLongError,
    PayloadTooLargeError,
    PermanentError,
    SourceArchivedError,
    SourceCustomerEncryptedError,
    SourceMissingError,
    SourceTooLargeError,
)


def test_every_permanent_error_has_one_base_and_its_own_code() -> None:
    kinds = PermanentError.__subclasses__()
    assert {
        SourceMissingError,
        SourceTooLargeError,
        SourceArchivedError,
        SourceCustomerEncryptedError,
        KeyTooLongError,
        PayloadTooLargeError,
    } <= set(kinds)
    codes = [kind.code for kind in kinds]
    assert len(set(codes)) == len(codes) and PermanentError.code not in codes
    assert all(code.isidentifier() and code.islower() for code in codes)
