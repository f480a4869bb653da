"""A service's own stream over HTTP, for services that speak no Kafka.

`GET /api/v1/services/me/events?after=N&limit=M&wait=S` answers the messages of the
calling service's topic (streams/fanout.py) after offset N, oldest first, as JSON, with
`next`: the cursor to ask with next time. With nothing new it waits up to S seconds (a
long poll). The caller is a service client with a token from POST /oauth/token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import ContainerDep
from api.oneroster.rostering import ClientDep
from streams.service_reader import read_service_page
from streams.service_view import service_topic

router = APIRouter(prefix="/api/v1/services", tags=["services"])


@router.get(
    "/me/events",
    summary="The calling service's events and forget notices after a cursor (long poll)",
)
def my_events(
    container: ContainerDep,
    client: ClientDep,
    after: Annotated[
        int, Query(ge=-1, description="The last offset already read; -1 from the start.")
    ] = -1,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many.")] = 100,
    wait: Annotated[
        float, Query(ge=0, le=30, description="Seconds to wait when there is nothing new.")
    ] = 0,
) -> dict[str, Any]:
    topic = service_topic(container.settings.topic_prefix, client.tenant, client.service)
    events = read_service_page(
        container.runtime.bootstrap,
        topic,
        container.codec.registry,
        after=after,
        limit=limit,
        wait_seconds=wait,
    )
    return {"events": events, "next": events[-1]["offset"] if events else after}
