"""The demo: a seed-sized help desk and a simulated support site, loaded through the API.

`helpdesk` and `site` generate the events, `loader` sends them (`helpstream demo`).
"""

from helpstream.demo.data import DemoData
from helpstream.demo.loader import DemoError, generate, load
from helpstream.demo.progress import Progress

__all__ = ["DemoData", "DemoError", "Progress", "generate", "load"]
