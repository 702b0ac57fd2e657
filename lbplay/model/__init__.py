"""The lab model: plain, typed, I/O-free descriptions every layer shares.

What a lab is (``config``), what can be done to it (``controls``, with one text form
and one JSON form), what it looks like (``snapshot`` and ``status``), how fake
backends misbehave (``faults``), what load is sent (``workload``) and what the
learner is told (``narration``). Like ``core/`` it imports nothing but the standard
library and the core (a test checks), so lessons, scenarios, export and the
simulator can use it without a network or a screen. ``tomlform`` reads and writes
a ``LabConfig`` as TOML, the format lessons and scenarios are written in.
"""
