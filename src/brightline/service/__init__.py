"""The HTTP service: a FastAPI app built by ``create_app(settings)`` (see app.py); nothing is built at import."""
