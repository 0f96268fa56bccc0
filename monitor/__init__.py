"""smartlead-monitor: health monitor for SmartLead mailboxes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("smartlead-monitor")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
