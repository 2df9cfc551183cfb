"""sockscope's Python startup hook (on PYTHONPATH under `sockscope run` and `sockscope env`).

Most Python HTTP clients already honour HTTP_PROXY/HTTPS_PROXY and the CA variables sockscope
sets (requests, httpx, urllib, websockets >= 15, websocket-client). aiohttp does not: its
ClientSession ignores the environment unless given trust_env=True, so python-socketio's asyncio
client and most aiohttp programs would go around the proxy. This hook makes trust_env default to
True when aiohttp is imported (an explicit trust_env=False is kept).

Then it runs the sitecustomize this one shadows, if there is one further down sys.path.
Standard library only; nothing happens unless $SOCKSCOPE_PROXY is set.
"""

import os
import sys


def _sockscope_install():
    import functools
    import importlib.abc
    import importlib.util

    patched = set()

    def patch(module):
        cls = getattr(module, "ClientSession", None)
        if cls is None or cls in patched:
            return
        original = cls.__init__

        @functools.wraps(original)
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("trust_env", True)
            original(self, *args, **kwargs)

        cls.__init__ = __init__
        patched.add(cls)

    class Finder(importlib.abc.MetaPathFinder):
        """Wraps the loader of `aiohttp` so the package is patched right after it loads."""

        def find_spec(self, name, path=None, target=None):
            if name != "aiohttp":
                return None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    loader = spec.loader
                    original_exec = loader.exec_module

                    def exec_module(module, _exec=original_exec):
                        _exec(module)
                        patch(module)

                    loader.exec_module = exec_module
                    return spec
                if spec is not None:
                    return spec
            return None

    if "aiohttp" in sys.modules:
        patch(sys.modules["aiohttp"])
    else:
        sys.meta_path.insert(0, Finder())


def _sockscope_chain():
    """Runs the next sitecustomize on sys.path (the one this file hides), if any."""
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        directory = os.path.abspath(entry or os.getcwd())
        if directory == here:
            continue
        candidate = os.path.join(directory, "sitecustomize.py")
        if os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location("_sockscope_next_sitecustomize", candidate)
            if spec is not None and spec.loader is not None:
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            return


if os.environ.get("SOCKSCOPE_PROXY"):
    try:
        _sockscope_install()
    except Exception as e:  # never break the program's start
        sys.stderr.write(f"sockscope: cannot prepare aiohttp for the proxy: {e}\n")
try:
    _sockscope_chain()
except Exception as e:
    sys.stderr.write(f"sockscope: the shadowed sitecustomize failed: {e}\n")
