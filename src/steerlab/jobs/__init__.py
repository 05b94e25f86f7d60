"""One module per command: each job does the work, writes its run folder through `core.runs.Run`
(claimed atomically, ``metrics.json`` with version, time, device and config) and its report.

The public API (`steerlab.walk`, `apply`, `evaluate`, `discover`, `invert`, `trajectory`, ...) is
these functions; the CLI (`steerlab.cli`) parses options and calls them.
"""
