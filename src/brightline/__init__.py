"""brightline: find known harmful media by hash, with review and privacy safeguards built in."""

__version__ = "0.1.0"
