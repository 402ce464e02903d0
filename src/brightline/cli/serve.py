"""`brightline serve`: run the HTTP API under uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from brightline.cli.context import fail, get_context
from brightline.cli.workers import APP_FACTORY, reuse_port_supported, serve_workers
from brightline.errors import BrightlineError


def serve_command(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: BRIGHTLINE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: BRIGHTLINE_PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes, each with its own index.")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    access_log: Annotated[
        bool, typer.Option(help="Log every request (uvicorn's access log); /metrics counts them either way.")
    ] = True,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs)."""
    # Imported here so that other commands do not pay for loading the web stack.
    import uvicorn

    from brightline.service.app import create_app

    cli = get_context(ctx)
    settings = cli.settings
    try:
        # Migrate once here, so N workers starting together do not race to do it.
        cli.db  # noqa: B018 - opening the database runs the migrations
        cli.close()
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    bind_host = host if host is not None else settings.host
    bind_port = port if port is not None else settings.port
    if workers > 1 and not settings.hashing_threads:
        # Each worker hashes on cores / N threads, so the host runs one hashing thread per core.
        os.environ["BRIGHTLINE_HASHING_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    if workers > 1 and reuse_port_supported():
        # Each worker process imports the factory and builds its own app from the environment.
        options = {"log_level": log_level, "access_log": access_log}
        status = serve_workers(bind_host, bind_port, workers, options)
        if status:
            raise typer.Exit(status)
        return
    if workers > 1:
        # No SO_REUSEPORT here: uvicorn's shared socket (one worker may take most connections).
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=bind_host,
            port=bind_port,
            workers=workers,
            log_level=log_level,
            access_log=access_log,
        )
        return
    try:
        app = create_app(settings, settle=True)
    except BrightlineError as exc:
        raise fail(cli, exc) from None
    uvicorn.run(app, host=bind_host, port=bind_port, log_level=log_level, access_log=access_log)
