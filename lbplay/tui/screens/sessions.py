"""The session-mode chooser: none, cookie, ip, header or a shared store."""

from __future__ import annotations

from textual.content import Content

from lbplay.model.narration import SESSION_MODES
from lbplay.tui.screens.chooser import Chooser, Item


class SessionChooser(Chooser):
    """Choose how requests of one user stick to a backend; the result is the mode."""

    def __init__(self, current: str) -> None:
        super().__init__(
            "Sessions",
            "Sticky sessions are not high availability: a session pinned to a server dies"
            " with it — unless the sessions live in a shared store.",
            [
                Item(name, Content.styled(name, "bold"), ((mode.summary, ""),))
                for name, mode in SESSION_MODES.items()
            ],
            current,
        )
