"""The ASGI app (Starlette): predictions, explanations, the model's description, the Playground, the page.

``create_app(model)`` builds it; ``scratchnn serve MODEL.snn`` runs it under uvicorn. Every refused request is
a 4xx with one line of JSON, ``{"error": "..."}``; anything unexpected is a 500 with one line too, never a
traceback (the server's log keeps that).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from .._version import __version__
from ..cli.inputs import expected_range
from ..cli.model import class_count, class_probabilities
from .batching import Batcher
from .explaining import explain_sample, heat_map_png, picture_of
from .openapi import openapi_schema
from .playground import PlaygroundRun, RunConfig, step_2_2_1
from .requests import MULTIPART, ApiError, Part, media_type, query_choice, query_int, samples_from_body

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_PLAYGROUND_RUNS = 4
INLINE_BODY_BYTES = 32 * 1024                 # bodies up to this size are read in the event loop itself
FRAME_INTERVAL = 0.03                         # seconds: the least time between two Playground frames


@dataclass
class Settings:
    """How the server batches and what it accepts (the command line's options)."""
    max_batch_size: int = 64
    max_delay_ms: float = 2.0
    max_body_bytes: int = MAX_BODY_BYTES
    predict_threads: int = 1
    blas_threads: int | None = 1              # BLAS threads per call (None: as NumPy set them up)
    class_names: list | None = None
    model_file: str | None = None
    playground_runs: int = MAX_PLAYGROUND_RUNS
    frame_interval: float = FRAME_INTERVAL


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


class BodyLimit:
    """ASGI middleware: a body longer than the limit is refused with 413 before the app reads it all."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        too_large = f"the request body is larger than the server's limit of {self.limit:,} bytes"
        if declared is not None:
            if not declared.isdigit():
                return await error_response(400, "the Content-Length header is not a number")(scope, receive, send)
            if int(declared) > self.limit:
                return await error_response(413, too_large)(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:                          # chunked bodies have no Content-Length
                    raise ApiError(413, too_large)
            return message
        await self.app(scope, limited_receive, send)


def create_app(model, settings: Settings | None = None) -> Starlette:
    """The app serving ``model`` (a built scratchnn model), batching its predictions as ``settings`` say."""
    settings = settings or Settings()
    if settings.class_names is not None and len(settings.class_names) != class_count(model):
        raise ValueError(f"class_names gives {len(settings.class_names)} names, the model has "
                         f"{class_count(model)} classes")
    labels = settings.class_names or [str(c) for c in range(class_count(model))]
    batcher = Batcher(lambda x: model.predict(x, batch_size=max(256, len(x))), settings.max_batch_size,
                      settings.max_delay_ms / 1000, settings.predict_threads)
    runs = {"active": 0, "lock": threading.Lock()}
    started = time.time()

    async def read_samples(request: Request) -> np.ndarray:
        invert = request.query_params.get("invert", "auto")
        form = None
        if media_type(request.headers.get("content-type")) == MULTIPART:
            form = await read_form(request)
            body = b""
        else:
            body = await request.body()
        arguments = (body, request.headers.get("content-type"), model, invert, form)
        if len(body) <= INLINE_BODY_BYTES and form is None:        # a sample or two: quicker than a thread hop
            return samples_from_body(*arguments)
        return await run_in_threadpool(samples_from_body, *arguments)

    async def predict(request: Request) -> Response:
        top = query_int(request.query_params, "top", 3, 1)
        x = await read_samples(request)
        outputs = await batcher.predict(x)
        probabilities = class_probabilities(model, outputs)
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :top]
        predictions = [{"class": int(best[0]), "name": labels[best[0]], "probability": round(float(p[best[0]]), 6),
                        "probabilities": [round(float(v), 6) for v in p],
                        "top": [{"class": int(c), "name": labels[c], "probability": round(float(p[c]), 6)}
                                for c in best]} for p, best in zip(probabilities, order)]
        return JSONResponse({"model": model.name, "predictions": predictions})

    async def explain(request: Request) -> Response:
        params = request.query_params
        method = query_choice(params, "method", "saliency", ("saliency", "integrated-gradients", "occlusion"))
        target = query_int(params, "target", None, 0)
        steps = query_int(params, "steps", 32, 1, 256)
        index = query_int(params, "index", 0, 0)
        answer = query_choice(params, "format", "png" if "image/png" in request.headers.get("accept", "") else "json",
                              ("json", "png"))
        x = await read_samples(request)
        if index >= len(x):
            raise ApiError(422, f"index {index} is out of range: the body holds {len(x)} sample(s)")
        result = await run_in_threadpool(explain_sample, model, x[index], method, target, steps)
        if answer == "png":
            png = await run_in_threadpool(heat_map_png, result, x[index], model.input_shape)
            return Response(png, media_type="image/png")
        result["name"] = labels[result["class"]]
        return JSONResponse(result)

    async def describe(request: Request) -> Response:
        lines: list[str] = []
        model.summary(print_fn=lines.append)
        picture = picture_of(model.input_shape)
        return JSONResponse({
            "name": model.name, "file": settings.model_file, "version": __version__,
            "input_shape": list(model.input_shape), "output_shape": list(model.output_shape),
            "dtype": str(np.dtype(model.dtype)), "classes": len(labels), "class_names": labels,
            "image": list(picture) if picture else None, "parameters": model.count_params(),
            "pixels": expected_range(model),         # "0..255": the model rescales; "[0, 1]": send them scaled
            "layers": [{"name": layer.name, "type": type(layer).__name__,
                        "output_shape": [None if d is None else int(d) for d in layer.output_shape],
                        "parameters": layer.count_params()} for layer in model.layers],
            "summary": "\n".join(lines),
            "batching": {"max_batch_size": settings.max_batch_size, "max_delay_ms": settings.max_delay_ms},
            "max_body_bytes": settings.max_body_bytes})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "model": model.name, "uptime_s": round(time.time() - started, 1),
                             "pid": os.getpid(), "batching": batcher.snapshot(),
                             "playground_runs": runs["active"]})

    async def train(request: Request) -> Response:
        config = RunConfig.from_query(request.query_params)
        with runs["lock"]:
            if runs["active"] >= settings.playground_runs:
                raise ApiError(429, f"{runs['active']} Playground runs are training already: wait for one to "
                                    "finish (or close its page)")
            runs["active"] += 1
        try:
            run = await run_in_threadpool(PlaygroundRun, config)
        except BaseException:
            release(runs)
            raise
        return StreamingResponse(playground_events(run, settings.frame_interval, runs),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def step(request: Request) -> Response:
        if media_type(request.headers.get("content-type")) != "application/json":
            raise ApiError(415, "send the step as JSON (Content-Type: application/json)")
        try:
            document = json.loads(await request.body() or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ApiError(400, f"the body is not valid JSON ({error})") from None
        return JSONResponse(step_2_2_1(document))

    async def schema(request: Request) -> Response:
        return JSONResponse(openapi_schema(__version__))

    def page(name: str):
        async def endpoint(request: Request) -> Response:
            return FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})
        return endpoint

    @contextlib.asynccontextmanager
    async def lifespan(app):
        limits = None
        if settings.blas_threads is not None:             # requests run side by side: BLAS needs fewer threads
            from threadpoolctl import threadpool_limits
            limits = threadpool_limits(limits=settings.blas_threads, user_api="blas")
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()
            if limits is not None:
                limits.restore_original_limits()

    routes = [Route("/", page("index.html")), Route("/docs", page("docs.html")),
              Route("/healthz", health), Route("/openapi.json", schema),
              Route("/v1/model", describe), Route("/v1/predict", predict, methods=["POST"]),
              Route("/v1/explain", explain, methods=["POST"]),
              Route("/v1/playground/train", train), Route("/v1/playground/step", step, methods=["POST"]),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        ApiError: lambda request, error: error_response(error.status, str(error)),
        HTTPException: lambda request, error: error_response(error.status_code, error.detail),
        Exception: internal_error})
    app.state.batcher, app.state.model, app.state.settings = batcher, model, settings
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app


async def read_form(request: Request) -> dict:
    """A multipart form, its files read into memory as Parts (the body limit bounds their size)."""
    form = await request.form(max_files=4, max_fields=16)
    parts = {}
    for name, value in form.multi_items():
        if hasattr(value, "filename") and hasattr(value, "read"):
            parts[name] = Part(value.filename, value.content_type, await value.read())
        else:
            parts[name] = value
    await form.close()
    return parts


def internal_error(request: Request, error: Exception) -> JSONResponse:
    """Anything the handlers did not foresee: a 500 with one line (the traceback stays in the server's log)."""
    return error_response(500, f"internal error ({type(error).__name__}: {error})")


def release(runs: dict) -> None:
    with runs["lock"]:
        runs["active"] -= 1


def event(name: str, data: dict) -> str:
    """One server-sent event."""
    return f"event: {name}\ndata: {json.dumps(data, allow_nan=False, separators=(',', ':'))}\n\n"


async def playground_events(run: PlaygroundRun, interval: float, runs: dict):
    """setup, a frame every few epochs, then done; training runs in a worker thread between frames."""
    try:
        yield event("setup", run.setup())
        frame = await run_in_threadpool(run.frame)
        yield event("frame", frame)
        per_frame = run.epochs_per_frame()
        reason = "finished"
        while run.epoch < run.config.epochs:
            began = time.perf_counter()
            await run_in_threadpool(run.train, min(per_frame, run.config.epochs - run.epoch))
            frame = await run_in_threadpool(run.frame)
            if not math.isfinite(frame["loss"]):
                reason = "diverged: the loss is not finite (lower the learning rate)"
                break
            yield event("frame", frame)
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - began)))
        yield event("done", {"epoch": run.epoch, "reason": reason})
    finally:
        release(runs)
