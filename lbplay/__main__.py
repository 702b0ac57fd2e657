"""``python -m lbplay`` runs the same CLI as the ``lbplay`` script."""

from __future__ import annotations

from lbplay.cli import main

if __name__ == "__main__":
    main()
