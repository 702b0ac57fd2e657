"""Export a lab model to a real balancer's configuration: the way out of the playground.

``export(config, target)`` writes the nginx, HAProxy or Envoy configuration that does
what the lab does, as far as that system can; what it cannot express is a comment
naming the setting (``export_base.Writer.cannot``). One writer per system:
``export_nginx``, ``export_haproxy``, ``export_envoy``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from lbplay.errors import ConfigError
from lbplay.model import export_envoy, export_haproxy, export_nginx
from lbplay.model.config import LabConfig

Write = Callable[[LabConfig, Mapping[str, str] | None, str], str]
WRITERS: dict[str, Write] = {
    "nginx": export_nginx.write,
    "haproxy": export_haproxy.write,
    "envoy": export_envoy.write,
}
TARGETS = tuple(WRITERS)


def export(
    config: LabConfig,
    target: str,
    *,
    addresses: Mapping[str, str] | None = None,
    listen: str = "127.0.0.1:8080",
) -> str:
    """``config`` as ``target``'s configuration; fake backends take ``addresses``
    (a running lab's), else placeholders; the balancer listens on ``listen``."""
    if target not in WRITERS:
        raise ConfigError(f"unknown export target {target!r}: use {', '.join(TARGETS)}")
    host, _, port = listen.rpartition(":")
    if not host or not port.isdecimal() or not 0 < int(port) < 65536:
        raise ConfigError(f"bad listen address {listen!r}: use HOST:PORT, e.g. 127.0.0.1:8080")
    return WRITERS[target](config, addresses, listen)
