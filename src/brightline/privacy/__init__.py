"""Privacy and accountability: the audit log's verification and export, retention and transparency reports."""
