"""The live dashboard that ``lbplay`` opens: a Textual app over a running Lab.

``app.run()`` starts a Lab in this process and shows it; everything on screen is
drawn from ``Lab.snapshot()`` a few times a second, and every key is a Lab call.

Layout of the package:

* ``app.py`` — ``LbplayApp`` and ``run()``: owns the Lab's lifecycle.
* ``bindings.py`` — every key, once: the dashboard, the help screen, the command
  palette and the README's key table are all generated from it.
* ``model.py``, ``plot.py``, ``eventlog.py``, ``palette.py``, ``controls.py`` — plain
  Python (no Textual): snapshot → rows, series → braille cells, events → timeline
  entries, the steps each key walks through (and what a key says it did), the
  measured traffic against its target.
* ``themes.py`` — the high-contrast theme and the order ``t`` cycles the themes in.
* ``commands.py`` — the command palette's provider (every key's action by name).
* ``screens/`` — the dashboard and its modals (algorithm, sessions, health, help,
  explain); ``widgets/`` — header bar, fleet table, request feed, charts, timeline,
  and ``RowTable``, the fast table under the fleet and the feed.
* ``screenshot.py`` — ``python -m lbplay.tui.screenshot`` retakes the README's SVG.
"""
