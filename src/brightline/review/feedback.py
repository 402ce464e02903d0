"""Feed false positives back into the banks: disable the entry that misfired, or allow-list the media."""

from __future__ import annotations

import contextlib
import logging

import sqlalchemy as sa

from brightline.banks.service import BankService
from brightline.banks.types import EntryInput
from brightline.errors import BankExistsError, BankNotFoundError
from brightline.review.types import Decision
from brightline.store.db import Database
from brightline.store.models import scan_records_table

log = logging.getLogger(__name__)

NEGATIVE_DOMAIN = "allow"
_S = scan_records_table.c


class EntryFeedback:
    """A DecisionListener: on a false positive, disable the matched entry and/or allow-list the scan's hash."""

    def __init__(self, banks: BankService, db: Database | None = None) -> None:
        self._banks = banks
        # The scan's hashes live beside the banks; by default read them through the bank service's database.
        self._db: Database = db if db is not None else banks._db

    def on_decision(self, decision: Decision) -> None:
        """Act on false positives only; other decisions are ignored."""
        if decision.decision != "false_positive":
            return
        case = decision.case
        if decision.disable_entry and case.entry_id is not None:
            # The entry's current bank, in case the bank was renamed since the match.
            entry = self._banks.get_entry(case.entry_id)
            self._banks.set_entries_enabled(entry.bank_name, [entry.id], False)
            log.info("case %s: disabled entry %s of bank %s (false positive)", case.id, entry.id, entry.bank_name)
        if decision.negative_bank and case.scan_id is not None:
            self._add_negative(decision.negative_bank, case.scan_id, case.id)

    def _add_negative(self, bank: str, scan_id: int, case_id: int) -> None:
        with self._db.session() as session:
            scan = session.execute(sa.select(_S.pdq, _S.md5).where(_S.id == scan_id)).first()
        if scan is None:
            return
        if scan.pdq:
            entry = EntryInput(signal_type="pdq", value=scan.pdq, source=f"case:{case_id}", category="false_positive")
        elif scan.md5:
            entry = EntryInput(signal_type="md5", value=scan.md5, source=f"case:{case_id}", category="false_positive")
        else:
            return
        try:
            self._banks.get_bank(bank)
        except BankNotFoundError:
            # A concurrent decision may create it first.
            with contextlib.suppress(BankExistsError):
                self._banks.create_bank(
                    bank, domain=NEGATIVE_DOMAIN, description="Known false positives (added from review)"
                )
        self._banks.add_entries(bank, [entry])
        log.info("case %s: added the scan's %s to negative bank %s", case_id, entry.signal_type, bank)
