"""A synchronous endpoint of a OneHopRoute runs in the thread pool once; its answer is
validated on the event loop, not in a second trip to the thread pool."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, field_validator

from api.deps import OneHopRoute

seen: dict[str, str] = {}


async def loop_thread() -> str:
    return threading.current_thread().name


class Answer(BaseModel):
    name: str

    @field_validator("name")
    @classmethod
    def _validated_where(cls, name: str) -> str:
        seen["validated"] = threading.current_thread().name
        return name


def _app(route_class: type) -> FastAPI:
    router = APIRouter(route_class=route_class)

    @router.get("/answer/{name}", response_model=Answer)
    def answer(name: str, loop: Annotated[str, Depends(loop_thread)]) -> dict[str, str]:
        """Answers its name."""
        seen["loop"], seen["endpoint"] = loop, threading.current_thread().name
        return {"name": name}

    app = FastAPI()
    app.include_router(router)
    return app


def test_a_sync_endpoint_runs_off_the_loop_and_its_answer_is_validated_on_it() -> None:
    seen.clear()
    with TestClient(_app(OneHopRoute)) as http:
        answer = http.get("/answer/Aino")

    assert answer.json() == {"name": "Aino"}
    assert seen["endpoint"] != seen["loop"]
    assert seen["endpoint"].startswith("digione-request")  # api/request_threads.py
    assert seen["validated"] == seen["loop"]


def test_the_endpoint_is_documented_as_written() -> None:
    one_hop = _app(OneHopRoute).openapi()["paths"]["/answer/{name}"]
    plain = _app(APIRoute).openapi()["paths"]["/answer/{name}"]

    assert one_hop == plain
    assert one_hop["get"]["operationId"] == "answer_answer__name__get"
