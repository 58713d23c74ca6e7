"""Document checks: number rules, the MRZ, and reader / e-passport chip data (passive authentication).

A domain package: pure functions on strings and bytes returning typed results; no HTTP, no SQL. The
service calls them and turns their results into reasons and audit events.
"""
from .numbers import DocumentNumberInvalid, NumberCheck, check_number, normalise_number

__all__ = ["DocumentNumberInvalid", "NumberCheck", "check_number", "normalise_number"]
