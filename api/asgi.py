"""The app of each HTTP process when `serve` runs several (DIGIONE_HTTP_WORKERS > 1).

uvicorn starts each worker as a fresh process and calls `served_app()` there: it builds
the system from serve's settings (handed over in the environment, with the Kafka cluster
serve uses), runs none of the background loops (serve's worker process does), wakes that
worker after each save, and drops the subject keys other processes erase.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from fastapi import FastAPI

from api.app import create_app
from api.bootstrap import Container, bootstrap
from api.heap import settle_heap
from api.settings import Settings
from api.worker_process import SETTINGS_ENV, WAKE_PORT_ENV

__all__ = ["HTTP_WORKER_START_SECONDS", "http_workers", "served_app"]

#: How long an HTTP worker (DIGIONE_HTTP_WORKERS > 1) may take to start before uvicorn
#: counts it as hung: each builds the system before it answers uvicorn's health check,
#: seconds on a busy machine, where uvicorn's default 5 s has it killed and restarted.
HTTP_WORKER_START_SECONDS = 60


def http_workers(container: Container) -> dict[str, Any]:
    """uvicorn's options for the HTTP workers of `container`'s settings, each building its
    app with `served_app`; hands them the settings, the Kafka cluster and the worker's
    wake-up port in this process's environment, which they inherit."""
    assert container.runtime.worker is not None, "HTTP workers need the worker process"
    os.environ.update(container.runtime.worker.child_environment())
    return {
        "app": "api.asgi:served_app",
        "factory": True,
        "workers": container.settings.http_workers,
        "timeout_worker_healthcheck": HTTP_WORKER_START_SECONDS,
    }


def served_app() -> FastAPI:
    """An HTTP worker's app (uvicorn's factory)."""
    from api.log_format import configure

    settings = Settings.explicit(**orjson.loads(os.environ[SETTINGS_ENV]))
    configure(settings.log_level)
    container = bootstrap(settings, role="http")
    port = os.environ.get(WAKE_PORT_ENV)
    container.runtime.observe_worker(wake_port=int(port) if port else None)
    app = create_app(container)
    settle_heap()
    return app
