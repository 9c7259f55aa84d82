"""Imported once by the fork server the worker processes fork from (preparing.Workers):
the engine loaded and every schema compiled before any worker exists, so that a worker,
or the replacement of one that died, starts in milliseconds, and the workers share the
compiled schemas' memory instead of holding a copy each (about 30 MB)."""

import contextlib

from . import preparing

with contextlib.suppress(Exception):  # then each worker compiles it again, and says why
    preparing.warm()
