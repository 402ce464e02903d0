"""Human review: the case queue, decisions and the reviewer accounts behind the console."""
