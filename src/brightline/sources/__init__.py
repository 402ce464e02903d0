"""Hash-list sources: fetch additions, changes and withdrawals from list owners and keep banks in sync."""
