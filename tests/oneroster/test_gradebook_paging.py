"""A vendor's gradebook sync pages through whole collections by offset: each next page seeks
past the last record of the page before (projections/reads/page_cursors.py), and answers
exactly what counting off the offset would, however the read model moved in between."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from api.oneroster.gradebook import BASE_PATH
from tests.builders import School
from tests.oneroster.conftest import ClientFactory, Project
from tests.oneroster.test_gradebook_provider import a_line_item, a_result
from tests.statements import statements_on

WRITER = ("gradebook.readonly", "gradebook.createput", "gradebook.delete")
#: Result sourcedIds in an order of their own: their creation order is not their sort.
RESULT_IDS = [f"r-{(n * 7) % 12:02d}" for n in range(12)]


@pytest.fixture
def writer(vendor: ClientFactory) -> dict[str, str]:
    return vendor("gradeapp", scopes=WRITER)


@pytest.fixture
def twelve_results(
    client: TestClient,
    school: School,
    vendor: ClientFactory,
    project: Project,
    writer: dict[str, str],
) -> dict[str, str]:
    """Six line items of class 4A, a result for each of its two students, written by
    `writer`; the Authorization header of a vendor that reads them."""
    ids = iter(RESULT_IDS)
    for item in range(6):
        line_item = f"li-{item}"
        answer = client.put(
            f"{BASE_PATH}/lineItems/{line_item}",
            headers=writer,
            json={"lineItem": a_line_item(sourcedId=line_item)},
        )
        assert answer.status_code == 201, answer.text
        for student in ("stu-1", "stu-2"):
            result = a_result(lineItem={"sourcedId": line_item}, student={"sourcedId": student})
            answer = client.put(
                f"{BASE_PATH}/results/{next(ids)}", headers=writer, json={"result": result}
            )
            assert answer.status_code == 201, answer.text
    project()
    return vendor("syncapp", scopes=("gradebook.readonly",))


def _page(client: TestClient, auth: dict[str, str], query: str) -> tuple[list[str], int]:
    answer = client.get(f"{BASE_PATH}/results?{query}", headers=auth)
    assert answer.status_code == 200, answer.text
    return [r["sourcedId"] for r in answer.json()["results"]], int(answer.headers["X-Total-Count"])


@pytest.mark.parametrize("order_by", ["asc", "desc"])
def test_a_vendor_paging_every_result_gets_each_once_in_the_order_of_the_whole(
    client: TestClient, twelve_results: dict[str, str], order_by: str
) -> None:
    whole, total = _page(client, twelve_results, f"limit=100&orderBy={order_by}")

    paged: list[str] = []
    counts = set()
    for offset in range(0, 15, 5):
        ids, count = _page(client, twelve_results, f"limit=5&offset={offset}&orderBy={order_by}")
        paged += ids
        counts.add(count)

    assert whole == sorted(RESULT_IDS, reverse=order_by == "desc")
    assert paged == whole
    assert counts == {total} == {12}


def _first_two_pages(client: TestClient, auth: dict[str, str]) -> None:
    """Pages 1 and 2 of three results: the walk's first page leaves no mark (a read at
    offset 0 is seldom a walk), its second counts off its offset and leaves one."""
    assert _page(client, auth, "limit=3&offset=0")[0] == sorted(RESULT_IDS)[:3]
    assert _page(client, auth, "limit=3&offset=3")[0] == sorted(RESULT_IDS)[3:6]


def test_a_vendors_next_page_seeks_past_the_last_record_instead_of_counting_off_the_offset(
    client: TestClient, twelve_results: dict[str, str], container: Container
) -> None:
    with statements_on(container.engine) as first:
        _first_two_pages(client, twelve_results)
    with statements_on(container.engine) as third:
        ids, count = _page(client, twelve_results, "limit=3&offset=6")

    assert ids == sorted(RESULT_IDS)[6:9] and count == 12
    # The first pages counted the results and paged by offset, the next one only seeks.
    first_reads = [s for s in first if "AS results" in s]
    reads = [s for s in third if "AS results" in s]
    assert [s.startswith("SELECT count(*)") for s in first_reads] == [True, False] * 2
    assert len(reads) == 1 and "results.sourced_id >" in reads[0]


def test_the_next_page_after_the_results_changed_is_the_page_of_the_changed_collection(
    client: TestClient, twelve_results: dict[str, str], project: Project, writer: dict[str, str]
) -> None:
    _first_two_pages(client, twelve_results)
    # The first result goes: every later one moves a place up.
    assert client.delete(f"{BASE_PATH}/results/r-00", headers=writer).status_code == 204
    project()

    ids, count = _page(client, twelve_results, "limit=3&offset=6")

    assert (ids, count) == (sorted(RESULT_IDS)[7:10], 11)


def test_another_clients_page_at_the_same_offset_is_its_own(
    client: TestClient, twelve_results: dict[str, str], vendor: ClientFactory
) -> None:
    _first_two_pages(client, twelve_results)
    # A client of the other school sees none of class 4A's results.
    other = vendor("otherapp", scopes=("gradebook.readonly",), schools=("sch-2",))

    assert _page(client, other, "limit=3&offset=6") == ([], 0)
    assert _page(client, twelve_results, "limit=3&offset=6&filter=score>'100'") == ([], 0)
