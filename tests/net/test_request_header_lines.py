"""The header lines the L7 proxy forwards (``net.forwarding.request_header_lines``)."""

from __future__ import annotations

from lbplay.core.affinity import COOKIE
from lbplay.net.forwarding import request_header_lines
from lbplay.net.http1 import parse_head


def lines(raw: bytes, *, trusted: bool = False, drop_cookie: str | None = None) -> list[str]:
    head = parse_head(raw)
    text = request_header_lines(head, "10.0.0.9", trusted, drop_cookie=drop_cookie)
    assert text.endswith("\r\n")
    return text[:-2].split("\r\n")


def test_end_to_end_headers_in_order_then_the_proxy_s_own() -> None:
    got = lines(
        b"POST /p HTTP/1.1\r\nHost: shop\r\nConnection: keep-alive, X-Secret\r\n"
        b"X-Secret: 1\r\nAccept: */*\r\nX-Forwarded-For: 6.6.6.6\r\naccept: text/html\r\n"
        b"Content-Length: 3\r\n\r\n"
    )
    assert got == [
        "Host: shop",
        "Accept: */*",
        "Accept: text/html",  # (the first spelling of a repeated name)
        "X-Forwarded-For: 10.0.0.9",  # an untrusted peer's claim is dropped
        "X-Forwarded-Proto: http",
        "Content-Length: 3",
    ]


def test_a_trusted_peer_s_forwarded_headers_are_kept_and_appended_to() -> None:
    raw = (
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\n\r\n"
    )
    assert lines(raw, trusted=True)[1:] == [
        "X-Forwarded-For: 1.2.3.4, 10.0.0.9",
        "X-Forwarded-Proto: https",
    ]


def test_host_comes_from_an_absolute_target_when_there_is_no_host_header() -> None:
    assert lines(b"GET http://shop:8080/x HTTP/1.0\r\n\r\n")[0] == "Host: shop:8080"
    # None at all: the upstream client writes the backend's address.
    assert not any(line.startswith("Host") for line in lines(b"GET /x HTTP/1.0\r\n\r\n"))


def test_the_affinity_cookie_is_taken_out_in_place() -> None:
    raw = (
        b"GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; " + COOKIE.encode() + b"=s1.1.x; b=2\r\n"
        b"Cookie: " + COOKIE.encode() + b"=s1.1.x\r\nAccept: */*\r\n\r\n"
    )
    assert lines(raw, drop_cookie=COOKIE)[:3] == ["Host: a", "Cookie: a=1; b=2", "Accept: */*"]
    # Without drop_cookie (affinity not by cookie), cookies are the backend's business.
    assert sum(line.startswith("Cookie") for line in lines(raw)) == 2
