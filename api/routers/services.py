"""A service's own stream over HTTP, for services that speak no Kafka.

`GET /api/v1/services/me/events?after=N&limit=M&wait=S` answers the messages of the
calling service's topic (streams/fanout.py) after offset N, oldest first, as JSON, with
`next`: the cursor to ask with next time. With nothing new it waits up to S seconds (a
long poll). The caller is a service client with a token from POST /oauth/token.

`GET /api/v1/services/me/keys?subject=ID` answers the key that the subject's personal
fields in the service's topic are sealed under (streams/service_view.py): only for a
subject the service received and was not told to forget since, and never again once the
subject is erased or the agreement ended (the key is destroyed then: 410).
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import ContainerDep, OneHopRoute
from api.oneroster.rostering import ClientDep
from api.problems import ProblemError
from streams.fanout import was_forgotten
from streams.service_reader import read_service_page
from streams.service_view import service_key_id, service_topic

router = APIRouter(prefix="/api/v1/services", tags=["services"], route_class=OneHopRoute)


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


@router.get(
    "/me/keys",
    summary="The key the calling service's copy of a subject's personal fields is sealed under",
)
def my_key(
    container: ContainerDep,
    client: ClientDep,
    subject: Annotated[
        str, Query(min_length=1, max_length=128, description="The person, by sourcedId.")
    ],
) -> dict[str, str]:
    with container.engine.connect() as connection:
        forgotten = was_forgotten(connection, client.tenant, client.service, subject)
    if forgotten is None:
        raise ProblemError(
            404, "not-found", "Not found",
            f"this service has received nothing of {subject!r}: keys are given for the "
            "subjects of the events in its topic", field="subject",
        )  # fmt: skip
    if forgotten:
        raise ProblemError(
            410, "subject-forgotten", "Subject forgotten",
            f"this service was sent a ForgetSubject notice for {subject!r}: delete what it "
            "holds of them; their key is not given any more", field="subject",
        )  # fmt: skip
    app = container.tenants.get(client.tenant)
    key = app.service_view_key(client.service, subject, create=False)
    if key is None:
        raise ProblemError(
            410, "key-destroyed", "Key destroyed",
            f"the key of {subject!r} for this service is destroyed (the subject was erased "
            "or the agreement ended): what the service holds of them is unreadable; delete "
            "it", field="subject",
        )  # fmt: skip
    return {
        "subject": subject,
        "keyId": service_key_id(client.tenant, client.service, subject),
        "algorithm": "AES-256-GCM",
        "key": base64.b64encode(key).decode(),
    }
