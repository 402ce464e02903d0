"""Human review: the case queue, decisions and the feedback they give the banks."""

from brightline.review.feedback import EntryFeedback
from brightline.review.queue import ReviewQueue

__all__ = ["EntryFeedback", "ReviewQueue"]
