"""Load on `scratchnn serve`: N concurrent clients for a bounded time, against onnxruntime in-process.

Starts `python -m scratchnn serve MODEL` on a free port of 127.0.0.1, then for each scenario runs
``--clients`` asyncio clients (one httpx.AsyncClient, one connection each) sending requests back to back for
``--seconds``:
  single  one image per request, JSON {"inputs": [784 numbers]}
  batch   ``--batch`` images per request, a float32 .npy upload
and prints requests/second, images/second, p50/p95/p99 latency, the error count (any non-200 answer or
failed connection; it must be 0), the server's mean batch (from /healthz), the server's CPU time per request
(user + system, from /proc: what a request costs, however busy the machine), and the server process's
resident memory before and after. In the same run the same model, exported with scratchnn.saving.export_onnx, is
timed in-process with onnxruntime (its default threads; one image per call, and ``--batch`` per call): the
model's raw speed, with no HTTP, JSON or batching in the way. The scratchnn model in-process (model.predict,
BLAS in one thread as the server runs it by default) is timed the same way.

Run: python benchmarks/serve_load.py [--model MODEL.snn] [--clients 16] [--seconds 10] [--batch 32]
Without --model it builds the MLP of `scratchnn train --model mlp` (784-256-256-10; untrained weights
cost the same to run as trained ones).
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from threadpoolctl import threadpool_limits

import scratchnn as snn
from scratchnn import layers

ROOT = Path(__file__).resolve().parents[1]


def build_model(path: Path) -> None:
    model = snn.Sequential([layers.Flatten(), layers.Dense(256, activation="relu"), layers.Dropout(0.2),
                            layers.Dense(256, activation="relu"), layers.Dropout(0.2), layers.Dense(10)],
                           input_shape=(28, 28, 1), seed=0)
    model.save(path)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def resident_mb(pid: int) -> float:
    """The process's resident memory (VmRSS) in MB, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(model_path: Path, options: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-m", "scratchnn", "serve", str(model_path), "--port", str(port),
                                "--log-level", "warning", *options], env=environment)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"the server did not answer on {base}")


async def load(base: str, clients: int, seconds: float, make_request) -> dict:
    """``clients`` loops sending requests back to back until ``seconds`` have passed."""
    latencies, errors = [], 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        stop = time.perf_counter() + seconds

        async def one_client(index: int):
            nonlocal errors
            while time.perf_counter() < stop:
                began = time.perf_counter()
                try:
                    answer = await make_request(client, index)
                    if answer.status_code != 200:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - began)
        began = time.perf_counter()
        await asyncio.gather(*(one_client(i) for i in range(clients)))
        elapsed = time.perf_counter() - began
    milliseconds = np.array(latencies) * 1000
    return {"requests": len(latencies), "errors": errors, "requests_per_s": len(latencies) / elapsed,
            "p50_ms": float(np.percentile(milliseconds, 50)), "p95_ms": float(np.percentile(milliseconds, 95)),
            "p99_ms": float(np.percentile(milliseconds, 99))}


def in_process(run, x_one: np.ndarray, x_batch: np.ndarray, seconds: float) -> dict:
    """Images per second of ``run`` called on one image, then on a batch, each for ``seconds`` / 2."""
    figures = {}
    for name, x in (("single", x_one), ("batch", x_batch)):
        run(x)                                                   # warm up
        calls, began = 0, time.perf_counter()
        while time.perf_counter() - began < seconds / 2:
            run(x)
            calls += 1
        figures[name] = calls * len(x) / (time.perf_counter() - began)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a .snn model taking 28 x 28 images (default: an MLP built here)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="per scenario")
    parser.add_argument("--batch", type=int, default=32, help="images per request in the batch scenario")
    parser.add_argument("--server-option", action="append", default=[],
                        help="passed to scratchnn serve, e.g. --server-option=--max-batch-size=128")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    import onnxruntime
    from scratchnn.saving import export_onnx

    folder = Path(tempfile.mkdtemp(prefix="serve_load_"))
    model_path = Path(args.model) if args.model else folder / "mlp.snn"
    if not args.model:
        build_model(model_path)
    model = snn.load_model(model_path)
    rng = np.random.default_rng(0)
    images = rng.random((256, *model.input_shape)).astype(np.float32)
    single_bodies = [json.dumps({"inputs": image.reshape(-1).round(4).tolist()}) for image in images]
    batch_bodies = []
    for start in range(0, 256, args.batch):
        buffer = io.BytesIO()
        np.save(buffer, images[start:start + args.batch])
        batch_bodies.append(buffer.getvalue())

    async def single(client, index):
        body = single_bodies[(index * 7 + int(time.perf_counter() * 1e6)) % len(single_bodies)]
        return await client.post("/v1/predict", content=body, headers={"Content-Type": "application/json"})

    async def batch(client, index):
        body = batch_bodies[index % len(batch_bodies)]
        return await client.post("/v1/predict", content=body, headers={"Content-Type": "application/x-npy"})

    process, base = start_server(model_path, args.server_option)
    results = {"model": str(model_path.name), "parameters": model.count_params(), "clients": args.clients,
               "seconds": args.seconds, "batch": args.batch, "cpus": os.cpu_count()}
    try:
        results["memory_before_mb"] = resident_mb(process.pid)
        for name, make_request in (("single", single), ("batch", batch)):
            before = httpx.get(f"{base}/healthz").json()["batching"]
            cpu_before = cpu_seconds(process.pid)
            figures = asyncio.run(load(base, args.clients, args.seconds, make_request))
            figures["server_cpu_ms_per_request"] = (cpu_seconds(process.pid) - cpu_before) * 1000 / max(
                1, figures["requests"])
            after = httpx.get(f"{base}/healthz").json()["batching"]
            batches = max(1, after["batches"] - before["batches"])
            figures["mean_server_batch"] = (after["samples"] - before["samples"]) / batches
            figures["images_per_s"] = figures["requests_per_s"] * (1 if name == "single" else args.batch)
            results[name] = figures
        results["memory_after_mb"] = resident_mb(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)

    session = onnxruntime.InferenceSession(export_onnx(model, folder / "model.onnx").SerializeToString())
    input_name = session.get_inputs()[0].name
    results["onnxruntime"] = in_process(lambda x: session.run(None, {input_name: x}), images[:1],
                                        images[:args.batch], args.seconds)
    with threadpool_limits(limits=1, user_api="blas"):                    # as the server runs it (--blas-threads 1)
        results["scratchnn_in_process"] = in_process(model.predict, images[:1], images[:args.batch], args.seconds)

    print(f"scratchnn serve, {results['model']} ({results['parameters']:,} parameters), {args.clients} clients, "
          f"{args.seconds:g} s per scenario, {results['cpus']} CPUs")
    print(f"{'scenario':<22}{'req/s':>9}{'images/s':>11}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'batch':>7}{'server CPU ms/req':>19}")
    for name, label in (("single", "HTTP, 1 image"), ("batch", f"HTTP, {args.batch} images")):
        f = results[name]
        print(f"{label:<22}{f['requests_per_s']:>9.1f}{f['images_per_s']:>11.1f}{f['p50_ms']:>9.2f}"
              f"{f['p95_ms']:>9.2f}{f['p99_ms']:>9.2f}{f['errors']:>8d}{f['mean_server_batch']:>7.1f}"
              f"{f['server_cpu_ms_per_request']:>19.2f}")
    for name, label in (("onnxruntime", "onnxruntime in-process"), ("scratchnn_in_process", "scratchnn in-process")):
        f = results[name]
        print(f"{label:<22}{'':>9}{f['single']:>11.1f}  (1 image per call);  {f['batch']:.1f} images/s "
              f"({args.batch} per call)")
    ort = results["onnxruntime"]
    print(f"HTTP / onnxruntime images/s: {results['single']['images_per_s'] / ort['single']:.3f} (1 image), "
          f"{results['batch']['images_per_s'] / ort['batch']:.3f} ({args.batch} images)")
    print(f"server memory: {results['memory_before_mb']:.1f} MB before, {results['memory_after_mb']:.1f} MB after")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if results["single"]["errors"] or results["batch"]["errors"]:
        sys.exit("errors under load: see the table")


if __name__ == "__main__":
    main()
