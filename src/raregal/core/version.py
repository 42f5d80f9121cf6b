"""raregal's version, from the installed distribution's metadata.

Its own module so that every record writer can import it without importing the
package's public API first (which imports the whole pipeline).
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("raregal")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"
