"""Experiments return plain data (dataclasses / dicts of lists); plotting is separate."""
