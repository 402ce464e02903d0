"""The reviewer console: a server-rendered web UI under /console for deciding review cases."""

from brightline.service.console.routes import router

__all__ = ["router"]
