"""What every JSON record raregal writes starts with (:func:`record_header`)."""

from __future__ import annotations

import sys

from raregal.core.version import __version__
from raregal.io.output import library_versions


def record_header(command=None) -> dict:
    """What every record raregal writes (run.json, manifest.json, injection.json …)
    starts with: raregal's version, the command that wrote it (default: this
    process's) and the versions of the libraries that made the numbers."""
    return {"raregal": __version__, "command": list(sys.argv if command is None else command),
            "versions": library_versions()}
