"""A faithful fake of the SmartLead email-accounts API, for tests, benchmarks and the demo."""

from monitor.smartlead.simulator.app import Simulator, run_simulator, serve
from monitor.smartlead.simulator.faults import Fault, Faults
from monitor.smartlead.simulator.fleet import Change, Fleet, InitialMix, Mailbox, Transitions

__all__ = [
    "Change",
    "Fault",
    "Faults",
    "Fleet",
    "InitialMix",
    "Mailbox",
    "Simulator",
    "Transitions",
    "run_simulator",
    "serve",
]
