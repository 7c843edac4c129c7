"""Figures a student can put in a report (matplotlib, PNG/GIF).

Each module builds ``matplotlib.figure.Figure`` objects with the object-oriented API
on an Agg canvas (no display, no pyplot state), and returns them; callers save them.
Modules are imported on demand, e.g. ``from cnnsim.plotting.arithmetic import
conv_arithmetic_figure``, so importing this package stays cheap.
"""
