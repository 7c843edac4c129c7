"""The step-through engine: traces, stepping, neuron connections, receptive fields.

from cnnsim.engine import record, Stepper, Trace, connections, receptive_field
"""

from .backward import grad_of, weight_grad_of  # noqa: E402,F401

# The functions a student calls most, at the package level (their modules stay importable
# as ``cnnsim.engine.connections`` etc. through ``from ... import``).
from .connections import connections  # noqa: E402,F401
from .receptive_field import effective_receptive_field, receptive_field  # noqa: E402,F401
from .stepper import Stepper  # noqa: F401
from .trace import Step, Trace, TraceError, planned_steps, record  # noqa: F401
