"""scratchnn serve: a model behind HTTP (predict, explain, describe), and a web page to watch networks learn.

Needs the serve extra (``pip install 'scratchnn[serve]'``). ``create_app(model, Settings(...))`` is a
Starlette (ASGI) app; ``run_server(path, ...)`` runs one under uvicorn, in one process or several
(``workers``). The page at ``/`` (static files in ``static/``, nothing loaded from elsewhere) has two tabs:
Digits (draw a digit, see the probabilities and the saliency map) and Playground (train a small network on a
toy set and watch its loss and decision boundary). ``/docs`` lists the endpoints from ``/openapi.json``.
"""
from __future__ import annotations

import importlib.util
import json
import os

SERVE_PACKAGES = {"starlette": "starlette", "uvicorn": "uvicorn", "multipart": "python-multipart"}
ENVIRONMENT = "SCRATCHNN_SERVE"               # how run_server hands its settings to worker processes

__all__ = ["create_app", "run_server", "Settings", "check_installed"]


def check_installed() -> None:
    """Raise ImportError naming the serve extra when a package the server needs is missing."""
    missing = [package for module, package in SERVE_PACKAGES.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise ImportError(f"scratchnn serve needs {', '.join(missing)}: pip install 'scratchnn[serve]'")


def __getattr__(name):
    if name in ("create_app", "Settings"):
        check_installed()
        from . import app
        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def app_from_environment():
    """The app for one uvicorn worker process: the model file and settings come from $SCRATCHNN_SERVE."""
    from ..saving import load_model
    from .app import Settings, create_app
    options = json.loads(os.environ[ENVIRONMENT])
    model = load_model(options.pop("model_file_path"))
    return create_app(model, Settings(**options))


def run_server(path: str, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, log_level: str = "info",
               **settings) -> None:
    """Serve the model file at ``path`` until interrupted; ``settings`` are ``Settings`` fields."""
    check_installed()
    import uvicorn

    from ..saving import load_model
    from .app import Settings, create_app
    settings.setdefault("model_file", os.path.basename(path))
    if workers == 1:
        app = create_app(load_model(path), Settings(**settings))
        uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=2)
        return
    create_app(load_model(path), Settings(**settings))          # fail here, once, on a bad file or option
    os.environ[ENVIRONMENT] = json.dumps({**settings, "model_file_path": os.path.abspath(path)})
    uvicorn.run("scratchnn.serve:app_from_environment", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, timeout_graceful_shutdown=2)
