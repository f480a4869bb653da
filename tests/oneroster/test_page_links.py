"""The Link header of a OneRoster page: the same query's first, prev, next and last pages."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request

from api.oneroster.rostering import _links


def _request(query: str) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": "https",
            "server": ("oneroster.example.fi", 443),
            "root_path": "",
            "path": "/ims/oneroster/rostering/v1p2/users",
            "query_string": query.encode(),
            "headers": [(b"host", b"oneroster.example.fi")],
        }
    )


def _pages(header: str) -> dict[str, str]:
    pages = {}
    for link in header.split(", "):
        target, rel = link.split("; ")
        pages[rel.removeprefix('rel="').removesuffix('"')] = target.strip("<>")
    return pages


def test_each_page_link_keeps_the_querys_other_parameters_and_moves_limit_and_offset() -> None:
    query = (
        "filter=roles.org.sourcedId%3D%27sch+1%27&fields=sourcedId,givenName"
        "&limit=10&offset=20&fields=familyName&sort=familyName"
    )

    pages = _pages(_links(_request(query), limit=10, offset=20, total=45))

    assert set(pages) == {"first", "prev", "next", "last"}
    for rel, offset in {"first": 0, "prev": 10, "next": 30, "last": 40}.items():
        url = urlsplit(pages[rel])
        assert (url.scheme, url.netloc, url.path) == (
            "https",
            "oneroster.example.fi",
            "/ims/oneroster/rostering/v1p2/users",
        )
        assert parse_qsl(url.query) == [
            ("filter", "roles.org.sourcedId='sch 1'"),
            ("fields", "sourcedId,givenName"),
            ("fields", "familyName"),
            ("sort", "familyName"),
            ("limit", "10"),
            ("offset", str(offset)),
        ]


def test_a_page_asked_for_without_parameters_links_to_limit_and_offset_alone() -> None:
    pages = _pages(_links(_request(""), limit=100, offset=0, total=250))

    assert pages == {
        "first": "https://oneroster.example.fi/ims/oneroster/rostering/v1p2/users?limit=100&offset=0",
        "last": "https://oneroster.example.fi/ims/oneroster/rostering/v1p2/users?limit=100&offset=200",
        "next": "https://oneroster.example.fi/ims/oneroster/rostering/v1p2/users?limit=100&offset=100",
    }
