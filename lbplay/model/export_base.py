"""What the exporters share (``model.export`` is the way in).

``export(config, target, ...)`` writes the configuration of nginx, HAProxy or Envoy
that does what the lab does, as far as that system can: each algorithm under its real
name and options, weights, backups, connection limits, health checks where the system
has them, affinity, routes to pools, retries, keepalive. Whatever the target cannot
express is written as a comment naming the setting and why — never silently dropped
(``Writer.cannot``). The writers live in ``export_nginx``, ``export_haproxy`` and
``export_envoy``; this module holds what they share.

Backends need addresses: a running lab's fake backends have real ``host:port`` ones
(``lbplay export`` asks the lab's admin API for them); a lab model alone (``--from
SCENARIO.toml``) gets placeholders on 127.0.0.1, said so at the top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lbplay.core.routing import DEFAULT_POOL
from lbplay.model.config import LabConfig

#: Where placeholder addresses start (a lab model with no running backends).
PLACEHOLDER_PORT = 8001


@dataclass
class Writer:
    """Lines of a configuration, and the settings the target cannot express."""

    comment: str = "#"
    lines: list[str] = field(default_factory=list)
    #: Settings the target cannot express, as comments for the header.
    unsupported: list[str] = field(default_factory=list)

    def add(self, line: str = "", indent: int = 0) -> None:
        self.lines.append(("    " * indent + line) if line else "")

    def note(self, text: str, indent: int = 0) -> None:
        """A comment line in place."""
        self.add(f"{self.comment} {text}", indent)

    def cannot(self, setting: str, why: str, indent: int = 0) -> None:
        """A setting the target cannot express: a comment here and in the summary."""
        self.note(f"not expressible: {setting} — {why}", indent)
        if f"{setting} — {why}" not in self.unsupported:  # once in the summary
            self.unsupported.append(f"{setting} — {why}")

    def text(self, header: list[str]) -> str:
        top = [f"{self.comment} {line}" if line else self.comment for line in header]
        if self.unsupported:
            top.append(f"{self.comment} Not expressible here (each is a comment where it applies):")
            top += [f"{self.comment}   - {item}" for item in self.unsupported]
        return "\n".join([*top, "", *self.lines]).rstrip() + "\n"


def backend_addresses(
    config: LabConfig, addresses: Mapping[str, str] | None
) -> tuple[dict[str, str], bool]:
    """Every backend's ``host:port`` (real ones keep theirs; fake ones take the running
    lab's, else placeholders), and whether any is a placeholder."""
    found: dict[str, str] = {}
    placeholder = False
    for index, spec in enumerate(config.all_backends()):
        if spec.address:
            found[spec.name] = spec.address
        elif addresses and spec.name in addresses:
            found[spec.name] = addresses[spec.name]
        else:
            found[spec.name] = f"127.0.0.1:{PLACEHOLDER_PORT + index}"
            placeholder = True
    return found, placeholder


def upstream_name(pool: str) -> str:
    """The name a pool gets in the exported file (``default`` is ``lbplay``)."""
    return "lbplay" if pool == DEFAULT_POOL else pool


def header(config: LabConfig, target: str, placeholder: bool, listen: str) -> list[str]:
    lines = [
        f"{target} configuration exported by lbplay from a lab model.",
        f"It listens on {listen} and balances {len(config.all_backends())} backends in"
        f" {len(config.pool_specs())} pool(s) with {config.algorithm} (the default pool).",
    ]
    if placeholder:
        lines.append(
            "Backend addresses are placeholders (no running lab): replace them with your servers'."
        )
    return lines
