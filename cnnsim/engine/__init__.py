"""The step-through engine: traces, stepping, neuron connections, receptive fields.

    from cnnsim.engine import record, Stepper, Trace, connections, receptive_field
"""
from .trace import Step, Trace, TraceError, record  # noqa: F401
from .stepper import Stepper  # noqa: F401
from .plan import Plan  # noqa: F401
