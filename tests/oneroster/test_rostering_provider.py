"""The OneRoster 1.2 rostering provider as a vendor's client uses it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.bootstrap import Container
from api.oneroster.rostering import OPERATIONS
from projections.reads.disclosures import DisclosureLog, disclosures_of
from projections.reads.oneroster_rostering import ClientView, RosteringReads, RosterQuery
from tests.builders import School, a_user, put
from tests.oneroster.conftest import ClientFactory, Project
from tests.read_engine import end_the_read_engines_connections
from tests.statements import statements_on

BASE = "/ims/oneroster/rostering/v1p2"


def _next(link: str) -> str | None:
    for part in link.split(","):
        url, _, rel = part.partition(";")
        if 'rel="next"' in rel:
            return url.strip().strip("<>")
    return None


def test_a_vendor_gets_a_token_and_pages_every_user_by_the_link_headers(
    client: TestClient, school: School, vendor: ClientFactory
) -> None:
    headers = vendor()
    seen: list[str] = []
    url: str | None = f"{BASE}/users?limit=2"

    while url is not None:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        seen += [u["sourcedId"] for u in response.json()["users"]]
        total = int(response.headers["X-Total-Count"])
        url = _next(response.headers["Link"])

    assert len(seen) == total == len(set(seen))
    assert seen == sorted(seen)
    assert {"stu-1", "stu-2", "tch-1", "stu-x"} <= set(seen)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_page_read_on_a_connection_the_server_ended_is_read_again_on_a_new_one(
    client: TestClient, container: Container, tenant: str, school: School, vendor: ClientFactory
) -> None:
    headers = vendor()
    url = f"{BASE}/users?limit=100"
    first = client.get(url, headers=headers)
    ended = end_the_read_engines_connections(container)

    again = client.get(url, headers=headers)
    one = client.get(f"{BASE}/users/stu-1", headers=headers)

    assert ended >= 1  # the first read left its connection pooled
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert one.status_code == 200, one.text


def test_form_credentials_work_as_basic_does_and_a_wrong_secret_gets_no_token(
    client: TestClient, container: Container, tenant: str
) -> None:
    from api.oneroster.clients_cli import create_client

    made = create_client(
        container, tenant=tenant, name="formapp", scopes=["roster-core.readonly"],
        categories=[], basis="statutory", schools=[],
    )  # fmt: skip

    good = client.post("/oauth/token", data={"grant_type": "client_credentials", **made})
    bad = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(made["client_id"], "not-the-secret"),
    )

    assert good.status_code == 200
    assert good.json()["scope"] == (
        "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly"
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"


def test_an_or_in_the_filter_cannot_reach_a_school_outside_the_agreement(
    client: TestClient, school: School, vendor: ClientFactory
) -> None:
    headers = vendor(schools=("sch-1",))

    response = client.get(
        f"{BASE}/users",
        params={"filter": "sourcedId='stu-x' OR roles.org.sourcedId='sch-2' OR status='active'"},
        headers=headers,
    )

    ids = {u["sourcedId"] for u in response.json()["users"]}
    assert response.status_code == 200
    assert "stu-x" not in ids and "stu-1" in ids
    assert int(response.headers["X-Total-Count"]) == len(ids)
    assert client.get(f"{BASE}/users/stu-x", headers=headers).status_code == 404
    assert client.get(f"{BASE}/schools/sch-2/classes", headers=headers).status_code == 404


def test_filters_reach_dotted_paths_lists_and_dates(
    client: TestClient, school: School, vendor: ClientFactory
) -> None:
    headers = vendor()

    def ids(path: str, text: str) -> set[str]:
        response = client.get(f"{BASE}/{path}", params={"filter": text}, headers=headers)
        assert response.status_code == 200, response.text
        return {r["sourcedId"] for r in next(iter(response.json().values()))}

    assert ids("classes", "school.sourcedId='sch-2'") == {"cls-x"}
    assert ids("users", "roles.role='teacher' AND roles.org.sourcedId='sch-1'") >= {"tch-1"}
    assert "stu-1" not in ids("users", "roles.role='teacher'")
    # OneRoster 1.1's `role='student'`, as clients written for 1.1 still filter.
    assert ids("users", "role='teacher'") == ids("users", "roles.role='teacher'")
    assert "stu-1" in ids("users", "role='student'") - ids("users", "role='teacher'")
    assert ids("courses", "subjectCodes='MA'") == {"ma-4"}
    assert ids("orgs", "name~'KOIVU'") == {"sch-1"}
    assert ids("orgs", "dateLastModified>'2000-01-01T00:00:00Z'") >= {"sch-1", "dist-1"}
    assert ids("orgs", "dateLastModified<'2000-01-01'") == set()
    assert ids("orgs", "type!='school'") == {"dist-1"}
    # A tree: a school names its parent, the district lists its children.
    assert "sch-1" in ids("orgs", "parent.sourcedId='dist-1'")
    assert ids("orgs", "children.sourcedId='sch-1'") == {"dist-1"}


def test_bad_filters_sorts_and_fields_answer_in_the_status_info_format(
    client: TestClient, school: School, vendor: ClientFactory
) -> None:
    headers = vendor()
    cases = {
        "filter=familyName~'Virta'": "invalid_filter_field",  # sealed: = and != only
        "filter=familyName>'A'": "invalid_filter_field",
        "filter=nonsense%3D'1'": "invalid_filter_field",
        "filter=status%3D'active": "invalid_filter_field",
        "sort=email": "invalid_sort_field",
        "sort=grades": "invalid_sort_field",
        "fields=sourcedId,password2": "invalid_selection_field",
        "limit=0": "invaliddata",
    }

    for query, minor in cases.items():
        response = client.get(f"{BASE}/users?{query}", headers=headers)

        assert response.status_code == 400, (query, response.text)
        body = response.json()
        assert body["imsx_codeMajor"] == "failure" and body["imsx_severity"] == "error"
        field = body["imsx_CodeMinor"]["imsx_codeMinorField"][0]
        assert field["imsx_codeMinorFieldValue"] == minor, query
        assert "Virtanen" not in response.text


def test_unauthenticated_unknown_and_wrong_method_answer_in_the_status_info_format(
    client: TestClient, school: School, vendor: ClientFactory
) -> None:
    headers = vendor()

    answers = {
        401: client.get(f"{BASE}/users"),
        404: client.get(f"{BASE}/users/nobody", headers=headers),
        405: client.post(f"{BASE}/users", headers=headers),
    }

    for status, response in answers.items():
        assert response.status_code == status
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["imsx_codeMajor"] == "failure"
    minor = answers[404].json()["imsx_CodeMinor"]["imsx_codeMinorField"][0]
    assert minor["imsx_codeMinorFieldValue"] == "unknownobject"
    assert (
        client.get("/api/v1/nothing-here")
        .headers["content-type"]
        .startswith("application/problem+json")
    )


def test_fields_select_what_is_returned_and_what_is_recorded_as_disclosed(
    client: TestClient, container: Container, tenant: str, school: School, vendor: ClientFactory
) -> None:
    headers = vendor("fieldsapp")

    response = client.get(f"{BASE}/users/stu-1?fields=sourcedId,email", headers=headers)

    assert response.json() == {"user": {"sourcedId": "stu-1", "email": "stu-1@example.invalid"}}
    categories = {d.category for d in disclosures_of(container.engine, tenant, "stu-1")
                  if d.recipient == "fieldsapp"}  # fmt: skip
    assert categories == {"contact", "roster"}


def test_a_client_without_the_demographics_scope_never_sees_demographics(
    client: TestClient, school: School, vendor: ClientFactory
) -> None:
    plain = vendor("plainapp", categories=("identity", "contact", "demographics"))
    demo = vendor("demoapp", scopes=("roster-demographics.readonly",), categories=("demographics",))

    refused = client.get(f"{BASE}/demographics", headers=plain)
    refused_one = client.get(f"{BASE}/demographics/stu-1", headers=plain)
    allowed = client.get(f"{BASE}/demographics/stu-1", headers=demo)

    assert refused.status_code == refused_one.status_code == 403
    assert "2016-03-01" not in refused.text + refused_one.text
    assert allowed.status_code == 200
    assert allowed.json()["demographics"]["birthDate"] == "2016-03-01"
    assert "white" not in allowed.json()["demographics"]  # special-category data is dropped


def test_a_client_without_the_contact_category_gets_no_email(
    client: TestClient, school: School, vendor: ClientFactory
) -> None:
    headers = vendor("namesonly", categories=("identity",))

    user = client.get(f"{BASE}/users/stu-1", headers=headers).json()["user"]

    assert user["givenName"] == "Aino" and "email" not in user


def test_sort_orders_and_envelopes_name_collections_as_the_standard_does(
    client: TestClient, school: School, vendor: ClientFactory
) -> None:
    headers = vendor()

    schools = client.get(f"{BASE}/schools?sort=name&orderBy=desc", headers=headers).json()
    students = client.get(f"{BASE}/classes/cls-4a/students", headers=headers).json()
    school_one = client.get(f"{BASE}/schools/sch-1", headers=headers).json()

    assert [o["name"] for o in schools["orgs"]] == ["Toinen koulu", "Koivukylän koulu"]
    assert {u["sourcedId"] for u in students["users"]} == {"stu-1", "stu-2"}
    assert school_one["org"]["parent"] == {
        "href": "http://testserver/ims/oneroster/rostering/v1p2/orgs/dist-1",
        "sourcedId": "dist-1",
        "type": "org",
    }


@pytest.mark.parametrize("collection, sort", [("classes", "title"), ("users", "enabledUser")])
def test_pages_of_one_follow_the_sort_of_the_whole_collection(
    client: TestClient, school: School, vendor: ClientFactory, collection: str, sort: str
) -> None:
    headers = vendor()
    order = f"sort={sort}&orderBy=desc"
    whole = client.get(f"{BASE}/{collection}?{order}&limit=100", headers=headers)
    total = int(whole.headers["X-Total-Count"])

    paged = [
        client.get(f"{BASE}/{collection}?{order}&limit=1&offset={n}", headers=headers).json()
        for n in range(total + 1)
    ]

    assert total >= 3
    assert [p[collection][0]["sourcedId"] for p in paged[:total]] == [
        r["sourcedId"] for r in whole.json()[collection]
    ]
    assert paged[total] == {collection: []}


def _ids(answer: Any, collection: str = "users") -> list[str]:
    assert answer.status_code == 200, answer.text
    return [r["sourcedId"] for r in answer.json()[collection]]


@pytest.mark.parametrize("order_by", ["asc", "desc"])
def test_users_paged_one_at_a_time_seek_each_page_and_are_the_whole_collection(
    client: TestClient, school: School, vendor: ClientFactory, container: Container, order_by: str
) -> None:
    headers = vendor()
    whole = client.get(f"{BASE}/users?orderBy={order_by}&limit=100", headers=headers)
    total = int(whole.headers["X-Total-Count"])

    with statements_on(container.read_engine) as seen:
        paged = [
            client.get(f"{BASE}/users?orderBy={order_by}&limit=1&offset={n}", headers=headers)
            for n in range(total + 1)
        ]

    assert total >= 5
    assert [_ids(p)[0] for p in paged[:total]] == _ids(whole)
    assert _ids(paged[total]) == []
    assert {p.headers["X-Total-Count"] for p in paged} == {str(total)}
    # Only the first two pages counted the users (the first leaves no mark, the second
    # counts off its offset): every later one sought past the one before.
    assert len([s for s in seen if "count(*)" in s and "FROM roster_users" in s]) == 2
    # The read model's version is read for every page but the first, a read at offset 0.
    assert len([s for s in seen if "FROM projection_positions" in s]) == total


def test_the_next_users_page_after_a_user_came_before_it_is_the_page_of_the_new_collection(
    client: TestClient, school: School, vendor: ClientFactory, project: Project
) -> None:
    headers = vendor()
    for offset in (0, 2):  # the second page leaves the mark a third would seek from
        client.get(f"{BASE}/users?limit=2&offset={offset}", headers=headers)
    put(
        client,
        school.admin,
        "users",
        "aaa-0",
        "user",
        a_user("aaa-0", "student", given="Aapo", family="Aalto"),
    )
    project()

    after = client.get(f"{BASE}/users?limit=2&offset=4", headers=headers)
    whole = client.get(f"{BASE}/users?limit=100", headers=headers)

    assert _ids(whole)[0] == "aaa-0"
    assert _ids(after) == _ids(whole)[4:6]
    assert after.headers["X-Total-Count"] == whole.headers["X-Total-Count"]


def test_discovery_serves_the_official_file_localized_and_the_local_copy(
    client: TestClient,
) -> None:
    official = client.get(f"{BASE}/discovery/onerosterv1p2rostersservice_openapi3_v1p0.json")
    local = client.get(f"{BASE}/discovery")

    assert official.json()["servers"][0]["url"] == "http://testserver" + BASE
    assert len(official.json()["paths"]) == 41
    minor = local.json()["components"]["schemas"]["imsx_CodeMinorFieldDType"]
    assert "invalid_sort_field" in minor["properties"]["imsx_codeMinorFieldValue"]["enum"]


def test_core_scope_reads_collections_but_not_the_nested_ones(
    client: TestClient, school: School, vendor: ClientFactory
) -> None:
    headers = vendor("coreapp", scopes=("roster-core.readonly",))

    collection = client.get(f"{BASE}/classes", headers=headers)
    nested = client.get(f"{BASE}/classes/cls-4a/students", headers=headers)

    assert collection.status_code == 200
    assert nested.status_code == 403
    minor = nested.json()["imsx_CodeMinor"]["imsx_codeMinorField"][0]
    assert minor["imsx_codeMinorFieldValue"] == "forbidden"


def test_an_ended_agreement_stops_its_tokens_at_once(
    client: TestClient, container: Container, tenant: str, school: School, vendor: ClientFactory
) -> None:
    headers = vendor("endingapp")
    app = container.tenants.get(tenant)
    agreement = app.agreement(app.client_id_of("endingapp"))
    assert agreement is not None

    agreement.end(ended_at=container.clock(), ended_by="admin-1")
    app.save(agreement)
    answer = client.get(f"{BASE}/users", headers=headers)

    assert answer.status_code == 401
    assert (
        answer.json()["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"]
        == "unauthorisedrequest"
    )


def test_a_token_asks_only_for_scopes_its_agreement_grants(
    client: TestClient, container: Container, tenant: str
) -> None:
    from api.oneroster.clients_cli import create_client

    made = create_client(
        container, tenant=tenant, name="scopeapp", scopes=["roster-core.readonly"],
        categories=[], basis="statutory", schools=[],
    )  # fmt: skip
    auth = (made["client_id"], made["client_secret"])

    wider = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "roster.readonly"},
        auth=auth,
    )
    grant = client.post("/oauth/token", data={"grant_type": "password"}, auth=auth)

    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"


def test_paging_headers_count_only_what_the_client_may_see(
    client: TestClient, school: School, vendor: ClientFactory
) -> None:
    everything = vendor("allschools")
    limited = vendor("oneschool", schools=("sch-2",))

    every = client.get(f"{BASE}/classes?limit=1&offset=1", headers=everything)
    one = client.get(f"{BASE}/classes?limit=1", headers=limited)

    assert every.headers["X-Total-Count"] == "3"
    assert 'rel="prev"' in every.headers["Link"] and 'rel="next"' in every.headers["Link"]
    assert one.headers["X-Total-Count"] == "1"
    assert [c["sourcedId"] for c in one.json()["classes"]] == ["cls-x"]
    assert 'rel="next"' not in one.headers["Link"]


def test_each_subject_is_recorded_with_the_categories_returned_of_them(
    client: TestClient,
    container: Container,
    tenant: str,
    school: School,
    vendor: ClientFactory,
    project: Project,
) -> None:
    put_user = {
        "user": {
            "sourcedId": "stu-noemail",
            "status": "active",
            "enabledUser": "true",
            "givenName": "Niko",
            "familyName": "Nimetön",
            "roles": [{"roleType": "primary", "role": "student", "org": {"sourcedId": "sch-1"}}],
        }
    }
    assert client.put(
        "/api/v1/roster/users/stu-noemail", json=put_user, headers=school.admin
    ).status_code in (200, 201)
    project()
    headers = vendor("pageapp")

    def categories(subject: str) -> set[str]:
        return {
            d.category
            for d in disclosures_of(container.engine, tenant, subject)
            if d.recipient == "pageapp"
        }

    page = client.get(f"{BASE}/users?limit=100", headers=headers)

    assert page.status_code == 200
    assert "stu-noemail" in {u["sourcedId"] for u in page.json()["users"]}
    assert categories("stu-noemail") == {"identity", "roster"}
    assert categories("stu-1") == {"identity", "contact", "roster"}


def test_an_erased_user_reads_with_placeholder_names_and_nothing_else_personal(
    client: TestClient,
    container: Container,
    tenant: str,
    school: School,
    vendor: ClientFactory,
    project: Project,
) -> None:
    headers = vendor("erasureapp")
    erased = client.post(
        "/api/v1/erasures", json={"subject": "stu-2", "reason": "test"}, headers=school.admin
    )
    assert erased.status_code == 202, erased.text
    project()

    user = client.get(f"{BASE}/users/stu-2", headers=headers).json()["user"]

    assert user["givenName"] == user["familyName"] == "erased"
    assert "email" not in user
    assert user["roles"][0]["org"]["sourcedId"] == "sch-1"


def test_an_erasure_reaches_a_delta_sync_by_date_last_modified(
    client: TestClient,
    container: Container,
    school: School,
    vendor: ClientFactory,
    project: Project,
) -> None:
    headers = vendor("deltaapp")
    # Events carry the time they were stored at: a client's cursor is a time after the last.
    since = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    erased = client.post(
        "/api/v1/erasures", json={"subject": "stu-2", "reason": "test"}, headers=school.admin
    )
    assert erased.status_code == 202, erased.text
    project()

    delta = client.get(
        f"{BASE}/users", params={"filter": f"dateLastModified>'{since}'"}, headers=headers
    )

    assert delta.status_code == 200, delta.text
    assert [u["sourcedId"] for u in delta.json()["users"]] == ["stu-2"]
    assert delta.json()["users"][0]["givenName"] == "erased"


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_parent_whose_children_change_reaches_a_delta_sync(
    client: TestClient, school: School, vendor: ClientFactory, project: Project
) -> None:
    headers = vendor("treeapp")
    since = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    put(client, school.admin, "orgs", "sch-3", "org",
        {"name": "Kolmas koulu", "type": "school", "identifier": "03",
         "parent": {"sourcedId": "dist-1"}})  # fmt: skip
    put(client, school.admin, "academicSessions", "term-1", "academicSession",
        {"title": "Syyslukukausi", "type": "term", "startDate": "2025-08-11",
         "endDate": "2025-12-20", "schoolYear": "2026", "parent": {"sourcedId": "year-2026"}})  # fmt: skip
    project()

    def changed(collection: str) -> dict[str, list[str]]:
        answer = client.get(
            f"{BASE}/{collection}",
            params={"filter": f"dateLastModified>'{since}'"},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        return {
            r["sourcedId"]: [c["sourcedId"] for c in r.get("children", [])]
            for r in answer.json()[collection]
        }

    assert changed("orgs") == {"dist-1": ["sch-1", "sch-2", "sch-3"], "sch-3": []}
    assert changed("academicSessions") == {"year-2026": ["term-1"], "term-1": []}


def test_a_client_of_another_tenant_sees_none_of_this_tenants_roster(
    client: TestClient, container: Container, tenant: str, school: School
) -> None:
    from api.oneroster.clients_cli import create_client

    other = tenant[:-1] + "b"
    container.tenants.create(other, name="Another municipality")
    made = create_client(
        container, tenant=other, name="learnapp", scopes=["roster.readonly"],
        categories=["identity"], basis="statutory", schools=[],
    )  # fmt: skip
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **made},
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    users = client.get(f"{BASE}/users", params={"filter": "status='active'"}, headers=headers)

    assert users.status_code == 200
    assert users.json() == {"users": []} and users.headers["X-Total-Count"] == "0"
    assert client.get(f"{BASE}/users/stu-1", headers=headers).status_code == 404


def test_quotes_in_a_value_stay_inside_the_value(
    client: TestClient, school: School, vendor: ClientFactory
) -> None:
    headers = vendor()

    response = client.get(
        f"{BASE}/orgs", params={"filter": "sourcedId='x'' OR ''1''=''1'"}, headers=headers
    )

    assert response.status_code == 200 and response.json() == {"orgs": []}


def test_a_limit_above_ten_thousand_is_served_as_ten_thousand(
    client: TestClient, school: School, vendor: ClientFactory
) -> None:
    headers = vendor()

    response = client.get(f"{BASE}/users?limit=20000", headers=headers)

    assert response.status_code == 200
    assert "limit=10000" in response.headers["Link"]


def test_equality_on_a_sealed_field_finds_users_through_the_blind_index(
    client: TestClient, school: School, vendor: ClientFactory
) -> None:
    headers = vendor("lookupapp", schools=("sch-1",))

    def ids(text: str) -> list[str]:
        response = client.get(f"{BASE}/users", params={"filter": text}, headers=headers)
        assert response.status_code == 200, response.text
        return [u["sourcedId"] for u in response.json()["users"]]

    assert ids("email='STU-1@example.invalid'") == ["stu-1"]
    assert ids("givenName=' aino ' AND familyName='Virtanen'") == ["stu-1"]
    assert "stu-1" not in ids("email!='stu-1@example.invalid'")
    # The index answers across schools; the agreement still limits what is returned.
    assert ids("email='stu-x@example.invalid' OR email='stu-x@example.invalid'") == []


def test_a_name_many_users_share_finds_every_one_of_them_page_by_page(
    client: TestClient, school: School, vendor: ClientFactory, project: Project
) -> None:
    headers = vendor("namesakes", schools=("sch-1",))
    namesakes = sorted(f"stu-n{n:03d}" for n in range(120))
    for sourced_id in namesakes:
        user = a_user(sourced_id, "student", given="Kaarlo", family="Niemi")
        put(client, school.admin, "users", sourced_id, "user", user)
    project()

    def paged(text: str) -> tuple[list[str], int]:
        seen: list[str] = []
        url: str | None = f"{BASE}/users?limit=50"
        params: dict[str, str] | None = {"filter": text}
        while url is not None:
            response = client.get(url, params=params, headers=headers)
            assert response.status_code == 200, response.text
            seen += [u["sourcedId"] for u in response.json()["users"]]
            total = int(response.headers["X-Total-Count"])
            url, params = _next(response.headers["Link"]), None
        return seen, total

    found, total = paged("givenName='kaarlo'")
    others, others_total = paged("givenName!='Kaarlo'")
    everyone, _ = paged("status='active'")

    assert found == namesakes and total == 120
    assert others == sorted(set(everyone) - set(namesakes)) and others_total == len(others)
    assert others  # the school's own users


def test_a_client_may_not_filter_on_personal_data_it_may_not_see(
    client: TestClient, school: School, vendor: ClientFactory
) -> None:
    headers = vendor("nocontact", categories=("identity",))

    response = client.get(
        f"{BASE}/users", params={"filter": "email='stu-1@example.invalid'"}, headers=headers
    )

    assert response.status_code == 400
    minor = response.json()["imsx_CodeMinor"]["imsx_codeMinorField"][0]
    assert minor["imsx_codeMinorFieldValue"] == "invalid_filter_field"


def test_an_erased_users_blind_index_finds_them_no_more(
    client: TestClient,
    container: Container,
    tenant: str,
    school: School,
    vendor: ClientFactory,
    project: Project,
) -> None:
    headers = vendor("erasedlookup")
    erased = client.post(
        "/api/v1/erasures", json={"subject": "stu-2", "reason": "test"}, headers=school.admin
    )
    assert erased.status_code == 202
    project()

    found = client.get(
        f"{BASE}/users", params={"filter": "email='stu-2@example.invalid'"}, headers=headers
    )

    assert found.json() == {"users": []}
    assert container.tenants.get(tenant).users_with("email", "stu-2@example.invalid") == []


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_burst_of_reads_beyond_the_pool_waits_for_connections_instead_of_failing(
    container: Container, tenant: str, school: School
) -> None:
    # One connection for the reads and their disclosures: eight concurrent reads take turns
    # with it. A read that kept its connection while its disclosure was written would leave
    # the disclosure's writer none, and the read would fail (the API's 503).
    engine = sa.create_engine(container.engine.url, pool_size=1, max_overflow=0, pool_timeout=10)
    log = DisclosureLog(engine)
    reads = RosteringReads(
        engine=engine,
        projection=container.projections.roster,
        disclosures=log,
        clock=container.clock,
        sealers=lambda t: container.tenants.get(t).sealer,
    )
    caller = ClientView(
        tenant=tenant,
        service="burstapp",
        role="service",
        scopes=frozenset({"roster.readonly"}),
        categories=frozenset({"identity"}),
        basis="statutory",
    )
    users = next(op for op in OPERATIONS if op.operation_id == "getAllUsers")

    def read(_: int) -> int:
        page = reads.page(
            caller, users.select({}), RosterQuery(limit=100), scopes=users.scopes, base_url=""
        )
        return len(page.records)

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            counts = list(pool.map(read, range(16)))
    finally:
        log.close()
        engine.dispose()

    assert len(set(counts)) == 1 and counts[0] > 0
    recorded = disclosures_of(container.engine, tenant, "stu-1")
    assert [d.count for d in recorded if d.recipient == "burstapp"] == [16, 16]  # identity, roster


def test_a_schools_students_and_teachers_are_its_own_whether_by_role_or_by_enrollment(
    client: TestClient, school: School, vendor: ClientFactory
) -> None:
    headers = vendor()

    def ids(path: str) -> set[str]:
        response = client.get(f"{BASE}/{path}", headers=headers)
        assert response.status_code == 200, response.text
        return {u["sourcedId"] for u in response.json()["users"]}

    students, teachers = ids("schools/sch-1/students"), ids("schools/sch-1/teachers")

    assert {"stu-1", "stu-2"} <= students and "stu-x" not in students
    assert "tch-1" in teachers and not teachers & students
    assert ids("schools/sch-2/students") == {"stu-x"}


def test_a_filter_on_an_email_finds_users_as_the_blind_index_stands_at_each_request(
    client: TestClient, school: School, vendor: ClientFactory, project: Project
) -> None:
    headers = vendor("emailsync")

    def ids(email: str) -> list[str]:
        response = client.get(
            f"{BASE}/users", params={"filter": f"email='{email}'"}, headers=headers
        )
        assert response.status_code == 200, response.text
        return [u["sourcedId"] for u in response.json()["users"]]

    before = ids("stu-1@example.invalid")
    moved = {**a_user("stu-1", "student", given="Aino", family="Aalto"), "email": "aino@k.invalid"}
    put(client, school.admin, "users", "stu-1", "user", moved)
    project()

    assert before == ["stu-1"]
    assert ids("stu-1@example.invalid") == []
    assert ids("aino@k.invalid") == ["stu-1"]


def test_the_same_page_asked_again_answers_what_the_roster_holds_now(
    client: TestClient, school: School, vendor: ClientFactory, project: Project
) -> None:
    headers = vendor("resync")
    url = f"{BASE}/users?limit=100&filter=roles.org.sourcedId='sch-1'"

    first = client.get(url, headers=headers)
    put(
        client,
        school.admin,
        "users",
        "stu-new",
        "user",
        a_user("stu-new", "student", given="Uusi", family="Oppilas"),
    )
    project()
    again = client.get(url, headers=headers)
    second_page = client.get(f"{url}&offset=1", headers=headers)

    seen = [u["sourcedId"] for u in again.json()["users"]]
    assert "stu-new" not in {u["sourcedId"] for u in first.json()["users"]}
    assert "stu-new" in seen
    assert int(again.headers["X-Total-Count"]) == int(first.headers["X-Total-Count"]) + 1
    assert [u["sourcedId"] for u in second_page.json()["users"]] == seen[1:]
