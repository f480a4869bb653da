"""The app of each HTTP process when `serve` runs several (DIGIONE_HTTP_WORKERS > 1).

uvicorn starts each worker as a fresh process and calls `served_app()` there: it builds
the system from serve's settings (handed over in the environment, with the Kafka cluster
serve uses), runs none of the background loops (serve's worker process does), wakes that
worker after each save, and drops the subject keys other processes erase.
"""

from __future__ import annotations

import os

import orjson
from fastapi import FastAPI

from api.app import create_app
from api.bootstrap import bootstrap
from api.heap import settle_heap
from api.settings import Settings
from api.worker_process import SETTINGS_ENV, WAKE_PORT_ENV

__all__ = ["served_app"]


def served_app() -> FastAPI:
    """An HTTP worker's app (uvicorn's factory)."""
    from api.log_format import configure

    settings = Settings.explicit(**orjson.loads(os.environ[SETTINGS_ENV]))
    configure(settings.log_level)
    container = bootstrap(settings)
    port = os.environ.get(WAKE_PORT_ENV)
    container.runtime.observe_worker(wake_port=int(port) if port else None)
    app = create_app(container)
    settle_heap()
    return app
