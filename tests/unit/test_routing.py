"""Content routing: the rule matrix and path normalisation."""

from __future__ import annotations

import pytest

from lbplay.core.routing import PathError, Router, Rule, normalise_path
from lbplay.errors import ConfigError


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("/", "/"),
        ("/a/b", "/a/b"),
        ("/public/../admin", "/admin"),
        ("/public/%2e%2e/admin", "/admin"),
        ("/public/%2E%2E/admin", "/admin"),
        ("/public/.%2e/admin", "/admin"),
        ("/a/./b", "/a/b"),
        ("/a//b", "/a/b"),
        ("/../../etc", "/etc"),
        ("/a/b/..", "/a/"),
        ("/a/b/.", "/a/b/"),
        ("/%7Euser", "/~user"),
        ("/caf%C3%A9", "/caf%C3%A9"),
        ("/a%20b", "/a%20b"),
    ],
)
def test_normalisation(raw: str, normal: str) -> None:
    assert normalise_path(raw) == normal


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("/public%2F..%2Fadmin", "encoded slash"),
        ("/public%2f..", "encoded slash"),
        ("/a%5Cb", "encoded backslash"),
        ("/a%00", "encoded NUL"),
        ("/a%zz", "two hex digits"),
        ("/a%", "two hex digits"),
    ],
)
def test_ambiguous_paths_are_refused(raw: str, message: str) -> None:
    with pytest.raises(PathError, match=message):
        normalise_path(raw)


RULES = [
    Rule("admin", path="/admin", method="GET"),
    Rule("api", path="/api"),
    Rule("static", path="/static/*.css"),
    Rule("beta", header=("X-Beta", "1")),
    Rule("shop", host="*.shop.test"),
    Rule("writes", method="POST"),
]


def route(method: str, path: str, host: str = "www.test", **headers: str) -> str:
    lowered = {k.lower().replace("_", "-"): v for k, v in headers.items()}
    return Router(RULES).route(method, host, path, lambda name: lowered.get(name.lower())).pool


@pytest.mark.parametrize(
    ("method", "path", "host", "headers", "pool"),
    [
        ("GET", "/admin", "www.test", {}, "admin"),
        ("GET", "/admin/users", "www.test", {}, "admin"),
        ("POST", "/admin", "www.test", {}, "writes"),  # method condition fails: next rules
        ("GET", "/administrator", "www.test", {}, "default"),  # prefixes match segments
        ("GET", "/public/../admin", "www.test", {}, "admin"),  # normalised before matching
        ("GET", "/api/../public", "www.test", {}, "default"),
        ("GET", "/api", "www.test", {}, "api"),
        ("GET", ["/api/v1", "x=1"][0], "www.test", {}, "api"),
        ("GET", "/apis", "www.test", {}, "default"),
        ("GET", "/static/site.css", "www.test", {}, "static"),
        ("GET", "/static/deep/site.css", "www.test", {}, "static"),  # * crosses slashes
        ("GET", "/static/site.js", "www.test", {}, "default"),
        ("GET", "/x", "www.test", {"X_Beta": "1"}, "beta"),
        ("GET", "/x", "www.test", {"X_Beta": "2"}, "default"),
        ("GET", "/x", "cart.SHOP.test:8080", {}, "shop"),
        ("GET", "/x", "shop.test", {}, "default"),
        ("PUT", "/x", "www.test", {}, "default"),
        ("POST", "/x", "www.test", {}, "writes"),
        ("GET", "/API", "www.test", {}, "default"),  # paths are case-sensitive
    ],
)
def test_rule_matrix(method: str, path: str, host: str, headers: dict[str, str], pool: str) -> None:
    assert route(method, path, host, **headers) == pool


def test_first_match_wins_and_reasons() -> None:
    router = Router([Rule("a", path="/x"), Rule("b", path="/x")])
    hit = router.route("GET", "h", "/x/y", lambda _: None)
    assert hit.pool == "a"
    assert hit.reason == "rule path=/x->a matched /x/y"
    miss = router.route("GET", "h", "/z", lambda _: None)
    assert miss.reason == "no rule matched /z: pool default"
    assert router.pools() == {"default", "a", "b"}


def test_parse_rules() -> None:
    rule = Rule.parse("path=/api/*,method=get,header=X-Beta:1->api")
    assert (rule.pool, rule.path, rule.method, rule.header) == (
        "api",
        "/api/*",
        "GET",
        ("X-Beta", "1"),
    )
    assert Rule.parse(rule.describe()) == rule


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path=/api", "use CONDITION"),
        ("path=api->x", "must start with '/'"),
        ("size=3->x", "bad route condition"),
        ("header=X->x", "NAME:VALUE"),
        ("path=/a,path=/b->x", "twice"),
        ("path=/a->bad name", "bad pool name"),
    ],
)
def test_bad_rules(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Rule.parse(text)


@pytest.mark.parametrize("text", ["path=/api/*&&method=POST->api", "path=/a||host=b->api"])
def test_conditions_joined_any_other_way_are_refused(text: str) -> None:
    """Found: ``path=/api/*&&method=POST`` was taken as one long path that never matched."""
    with pytest.raises(ConfigError, match="conditions are joined with ','"):
        Rule.parse(text)
