"""``raregal explore``: look through a search run in the browser.

A local web app over one run folder: the map of every searched galaxy (WebGL,
regl-scatterplot, shipped in the package), coloured by class or any numeric
column; a galaxy's card with its image, position, vote fractions, a Legacy
Surveys viewer link and "more like this"; the class table and each class's full
member list; selections (lasso, class or query) exported as CSV, FITS or
VOTable; tags and notes stored in ``RUN_DIR/explore-tags.sqlite``; and "suggest
next", rounds ranked by :mod:`raregal.rank` from those tags
(:mod:`raregal.explore.suggest`), kept in the same file.

Served by Starlette on uvicorn, bound to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import time

from raregal.core.errors import InputError

DEFAULT_PORT = 8765
LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARD = ("0.0.0.0", "::", "")


def _require_web_extra() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise InputError(
            f"raregal explore needs starlette and uvicorn ({exc.name} is "
            f"missing): install the explore extra, pip install 'raregal[explore]'"
        ) from exc


def own_addresses() -> list[str]:
    """This machine's IP addresses, from its network interfaces (psutil; the name
    lookup alone often gives only 127.0.1.1), loopback ones last: what a browser
    elsewhere uses to reach a server bound to every interface."""
    import psutil

    found = {
        address.address.split("%")[0]  # fe80::1%eth0: the scope is not in a URL
        for addresses in psutil.net_if_addrs().values()
        for address in addresses
        if address.family in (socket.AF_INET, socket.AF_INET6)
    }
    try:
        found |= set(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:  # a machine whose own name does not resolve
        pass
    return sorted(found, key=lambda a: (ipaddress.ip_address(a).is_loopback, ":" in a, a))


def allowed_hosts(host: str) -> list[str]:
    """The Host headers the app answers, a guard against DNS rebinding (a page on
    another site whose name re-resolves to this server, read through a visitor's
    browser; that matters on a LAN too, where the attacker's page cannot reach the
    server but the visitor's browser can). Always the loopback names; for a
    non-loopback ``host`` also that address, and for a wildcard (0.0.0.0, ::) this
    machine's names and every address of its interfaces (:func:`own_addresses`).
    Any other name gets 400 "Invalid host header"."""
    names = set()
    if host in WILDCARD:
        names = {socket.gethostname(), socket.getfqdn(), *own_addresses()}
    elif host not in LOOPBACK:
        names = {host}
    loopback = ["127.0.0.1", "localhost", "[::1]"]
    return loopback + sorted({f"[{n}]" if ":" in n else n.lower() for n in names} - set(loopback))


def urls(host: str, port: int) -> str:
    """Where to open the page: for a wildcard bind, here and from other machines."""
    if host not in WILDCARD:
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    outside = [a for a in own_addresses() if not ipaddress.ip_address(a).is_loopback]
    there = (
        f"http://{f'[{outside[0]}]' if ':' in outside[0] else outside[0]}:{port}/"
        if outside
        else None
    )
    here = f"http://{'[::1]' if host == '::' else '127.0.0.1'}:{port}/"
    return here + (f" here, {there} from other machines" if there else "")


def build(run_dir, *, images=None, host: str = "127.0.0.1"):
    """The explorer's Starlette app for a run folder (for tests and other servers)."""
    _require_web_extra()
    from raregal.explore.app import create_app
    from raregal.explore.data import RunData

    return create_app(RunData(run_dir, images=images), allowed_hosts=allowed_hosts(host))


def explore(
    run_dir,
    *,
    images=None,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    open_browser: bool = False,
    verbose: bool = True,
    ready=None,
) -> None:
    """Serve the explorer for ``run_dir`` until interrupted.

    Parameters
    ----------
    run_dir : path-like
        A folder written by ``raregal search``.
    images : path-like, optional
        Image folder or catalogue (id and path columns); default the images the
        run's representations were embedded from.
    host : str
        Interface to bind; 127.0.0.1 (this machine only) by default. Anything
        else serves the run, and its tags, to the network: a warning is printed,
        and requests must name this host (:func:`allowed_hosts`).
    port : int
        0 picks a free port.
    open_browser : bool
        Open the page in the default browser once serving.
    ready : callable, optional
        Called with the URL once the server listens.
    """
    say = (
        (lambda text: print(f"raregal: {text}", file=sys.stderr, flush=True))
        if verbose
        else (lambda text: None)
    )
    started = time.perf_counter()
    app = build(run_dir, images=images, host=host)
    import uvicorn

    if host not in LOOPBACK:
        say(
            f"warning: serving on {host}: anyone who can reach this machine can read the "
            f"run and change its tags (no login); answering only Host names "
            f"{', '.join(allowed_hosts(host))}"
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise InputError(
            f"cannot listen on {host}:{port}: {exc.strerror} (--port 0 picks a free port)"
        ) from exc
    sock.listen(2048)  # connections made as soon as the URL is printed wait in the backlog
    bound = sock.getsockname()[1]
    where = urls(host, bound)
    url = where.split()[0]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    say(
        f"exploring {run_dir} ({time.perf_counter() - started:.1f} s to load): open {where} "
        f"(Ctrl-C stops)"
    )
    if ready is not None:
        ready(url)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    server.run(sockets=[sock])
