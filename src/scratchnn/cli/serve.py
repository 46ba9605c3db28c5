"""scratchnn serve: the model behind HTTP (predict, explain, model, healthz) and the web page, under uvicorn."""
from __future__ import annotations

import argparse

from .common import EXIT_USAGE, CommandError, positive_float, positive_int
from .model import class_labels, class_names_list, open_model

NAME = "serve"
HELP = "serve a model over HTTP, with a web page to draw digits and watch networks learn"


def port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number in [0, 65535], got {text!r}")
    return port


def blas_threads(text: str) -> int | None:
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"expected a number of threads >= 0, got {text!r}")
    return count or None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="the model file (.snn) to serve")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 for all)")
    parser.add_argument("--port", type=port_number, default=8000, help="(default: 8000)")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="server processes, each with its own copy of the model (default: 1)")
    parser.add_argument("--max-batch-size", type=positive_int, default=64,
                        help="samples predicted together at most (dynamic batching; default: 64)")
    parser.add_argument("--max-delay-ms", type=positive_float, default=2.0,
                        help="how long a request waits for others to share its batch (default: 2 ms)")
    parser.add_argument("--max-body-mb", type=positive_float, default=8.0,
                        help="the largest request body accepted, in MB (default: 8)")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="batches predicted side by side in each process (default: 1)")
    parser.add_argument("--blas-threads", type=blas_threads, default=1, metavar="N",
                        help="threads of each BLAS call (matrix products); 0 leaves NumPy's setting. Concurrent "
                             "requests already keep the cores busy, and on a shared machine many BLAS threads "
                             "per call slow a batch down (default: 1)")
    parser.add_argument("--class-names", type=class_names_list, metavar="NAMES",
                        help="names for the classes: comma-separated (cat,dog,...) or 'fashion'")
    parser.add_argument("--log-level", choices=("critical", "error", "warning", "info", "debug"), default="info")


def run(args: argparse.Namespace) -> int:
    from .. import serve
    try:
        serve.check_installed()
    except ImportError as error:
        raise CommandError(str(error)) from None
    model = open_model(args.model)                           # a one-line error before the server starts
    class_labels(args.class_names, model)
    if args.max_delay_ms > 1000:
        raise CommandError(f"--max-delay-ms must be at most 1000, got {args.max_delay_ms:g}", EXIT_USAGE)
    where = f"http://{'127.0.0.1' if args.host == '0.0.0.0' else args.host}:{args.port}"
    print(f"scratchnn serve: {args.model} at {where}/ (the page), {where}/docs (the API), "
          f"{where}/v1/predict; Ctrl-C stops", flush=True)
    serve.run_server(args.model, host=args.host, port=args.port, workers=args.workers, log_level=args.log_level,
                     max_batch_size=args.max_batch_size, max_delay_ms=args.max_delay_ms,
                     max_body_bytes=int(args.max_body_mb * 1024 * 1024), predict_threads=args.threads,
                     blas_threads=args.blas_threads, class_names=args.class_names)
    return 0
