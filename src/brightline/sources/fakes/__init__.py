"""In-process fake list-owner servers for tests and demos, each following its documented API."""
