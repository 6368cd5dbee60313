"""Paging of list endpoints: `?limit=` and an opaque `?cursor=`, the next page's cursor in the
`X-Next-Cursor` response header (and a `Link: <…>; rel="next"`), absent on the last page.

Bodies stay plain JSON lists, so a client that reads one page works as before; the CLI follows
the cursor until the end. A cursor is the sort key of the last item shown, encoded, so pages
stay stable while items are added (keyset paging, no offsets).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, Query, Request, Response

from xae.errors import InvalidInput

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: str | None
    """The sort key of the last item of the previous page (decoded cursor)."""

    def after_number(self) -> int | None:
        """`after` for lists sorted by a number (ids, versions)."""
        if self.after is None:
            return None
        if not self.after.isdigit():
            raise InvalidInput("the cursor is not one this API gave out")
        return int(self.after)


def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=400, description="from the previous page's X-Next-Cursor")
    ] = None,
) -> PageRequest:
    if cursor is None:
        return PageRequest(limit, None)
    try:
        after = base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise InvalidInput(
            "the cursor is not one this API gave out: pass the X-Next-Cursor of the previous "
            "page unchanged, or leave it out for the first page"
        ) from e
    return PageRequest(limit, after)


PageDep = Annotated[PageRequest, Depends(page_request)]


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def page(
    rows: Sequence[T],
    page: PageRequest,
    key: Callable[[T], str],
    request: Request,
    response: Response,
) -> list[T]:
    """The first `page.limit` of `rows` (fetched with one extra, to know whether more follow),
    setting the next page's headers when they do."""
    shown = list(rows[: page.limit])
    if len(rows) > page.limit and shown:
        cursor = encode_cursor(key(shown[-1]))
        response.headers["X-Next-Cursor"] = cursor
        query = dict(request.query_params) | {"cursor": cursor, "limit": str(page.limit)}
        response.headers["Link"] = f'<{request.url.path}?{urlencode(query)}>; rel="next"'
    return shown
