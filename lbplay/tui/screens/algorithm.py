"""The algorithm chooser: every registered algorithm with its idea in one line and
what nginx, HAProxy, Envoy and AWS call it; Enter applies it live."""

from __future__ import annotations

from textual.content import Content

from lbplay.core import registry
from lbplay.core.registry import AlgorithmInfo
from lbplay.tui.screens.chooser import Chooser, Item


def real_names(info: AlgorithmInfo) -> str:
    """``nginx least_conn · HAProxy leastconn · ...`` (systems without one left out)."""
    pairs = (
        ("nginx", info.nginx),
        ("HAProxy", info.haproxy),
        ("Envoy", info.envoy),
        ("AWS", info.aws),
    )
    named = [f"{system} {name}" for system, name in pairs if name and not name.startswith("—")]
    # Some record only where the idea lives elsewhere: "— (Guava, sharded stores)".
    others = [name.strip("— ()") for _, name in pairs if name.startswith("— (")]
    if others:
        named.append(f"elsewhere: {', '.join(others)}")
    return " · ".join(named) or "no mainstream balancer"


def algorithm_item(info: AlgorithmInfo) -> Item:
    """Name and family, the idea, what real balancers call it."""
    title = Content.styled(info.name, "bold") + Content.styled(f"  {info.family}", "dim")
    return Item(
        info.name,
        title,
        ((info.idea, ""), (real_names(info), "$text-primary")),
    )


class AlgorithmChooser(Chooser):
    """Choose the balancing algorithm; the result is its registry name."""

    def __init__(self, current: str) -> None:
        super().__init__(
            "Algorithm — applied live",
            "How the balancer picks a backend for each request. The current one is marked ●.",
            [algorithm_item(registry.get(name)) for name in registry.names()],
            current,
        )
