"""``lbplay sim``: a discrete-event simulator that runs the live balancer's own pickers
over thousands of servers on a simulated clock.

Pure like ``core`` and ``model`` (no asyncio, aiohttp, Textual or Rich; a test checks
what importing it loads): ``config`` says what a simulation is, ``engine`` runs it,
``stats`` keeps streaming statistics, ``theory`` holds the published results it is
checked against and ``svg`` draws a chart for slides. The command line
(``lbplay.sim_cli``), the dashboard's "at scale" screen and the power-of-two-choices
lesson all call ``engine.compare``.
"""
