"""helpstream: live clickstream paths and help-desk reports for self-service support sites.

This package is the shared core: what the API (`helpstream.api`) and the workers
(`helpstream.workers`) both need — settings, stream layout, the wire codec, the database
helpers — plus the command line and the demo client. The API and the workers import the
core and `helpstream.db`, never each other.
"""

__version__ = "0.1.0"
