"""How urgent a case is: a whole number, higher first, from its closest hit, its list and its account.

The score is deliberately simple and additive so a reviewer (or an auditor) can explain any
queue order by hand: list domain first, then exact/close hits, then a repeat account.
"""

from __future__ import annotations

from collections.abc import Sequence

from brightline.review.types import CaseHit

# Points for the list a hit came from: child-safety lists outrank everything else.
DOMAIN_POINTS: dict[str, int] = {"csam": 300, "terrorism": 200, "ncii": 200, "other": 0}
UNKNOWN_DOMAIN_POINTS = 50
# A cryptographic (byte-identical) match leaves no doubt about the media.
EXACT_POINTS = 60
# Perceptual distance: distance 0 earns CLOSENESS_POINTS, each bit further one point less.
CLOSENESS_POINTS = 32
# Each earlier confirmed case of the same account, up to a ceiling so history never outranks the list.
HISTORY_POINTS = 20
HISTORY_MAX = 100
# Hits only from lists nobody verified wait behind verified ones of the same kind.
UNVERIFIED_PENALTY = 40
# An escalated case goes above everything a first-line reviewer would see.
ESCALATION_POINTS = 1000


def closest(hits: Sequence[CaseHit]) -> CaseHit | None:
    """The hit that best explains the case: exact first, then smallest distance, then highest domain."""
    if not hits:
        return None
    return min(hits, key=lambda h: (not h.exact, h.distance, -_domain_points(h.domain), h.bank, h.entry_id))


def _domain_points(domain: str) -> int:
    return DOMAIN_POINTS.get(domain, UNKNOWN_DOMAIN_POINTS)


def case_priority(hits: Sequence[CaseHit], *, confirmed_before: int = 0, verified: bool = True) -> int:
    """The intake priority of a case with these hits, for an account with ``confirmed_before`` confirmed cases."""
    score = 0
    if hits:
        score += max(_domain_points(h.domain) for h in hits)
        if any(h.exact for h in hits):
            score += EXACT_POINTS
        nearest = min(h.distance for h in hits)
        score += max(0, CLOSENESS_POINTS - max(0, nearest))
    score += min(HISTORY_MAX, HISTORY_POINTS * max(0, confirmed_before))
    if not verified:
        score -= UNVERIFIED_PENALTY
    return score
