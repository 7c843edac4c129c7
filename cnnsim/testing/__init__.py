"""Tools for checking: slow references (``naive``), gradient checks, student checkers."""
from . import naive  # noqa: F401
