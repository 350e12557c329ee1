"""Gateway benchmark: throughput and latency calling the engine directly vs through the gateway.

    .venv/bin/python tests/bench/bench_gateway.py [--requests 3000] [--concurrency 32]
        [--delays 0,20] [--rounds 3] [--real]

For each engine (the fake OpenAI engine of tests/gateway answering after `delay` ms, which stands
for an engine's generation time; with --real also `transformers serve` with a tiny Llama), it
runs the same closed-loop load (a fixed number of clients, each sending its next request when the
last one is answered, over keep-alive HTTP/1.1 from a minimal asyncio client so the load
generator is not the bottleneck) against the engine directly and then through
`python -m llmops.gateway` (logging every exchange to SQLite with group commit, redaction and
metrics), alternating `rounds` times. It prints requests/s, p50/p99 latency, the gateway's added
latency and the throughput ratio gateway/direct (goal: >= 0.95, i.e. under 5% loss).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from llmops.gateway.server import free_port

HERE = Path(__file__).resolve().parent
FAKE_ENGINE = HERE.parent / "gateway" / "fake_engine.py"


def wait(url: str, proc: subprocess.Popen, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} not ready")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


async def _client(
    port: int, path: str, bodies: asyncio.Queue, latencies: list[float], failures: list[str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while not bodies.empty():
            body = bodies.get_nowait()
            started = time.perf_counter()
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            length = next(int(x.split(b":")[1]) for x in lines if x.lower().startswith(b"content-length"))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if b" 200 " not in lines[0]:
                failures.append(lines[0].decode())
    finally:
        writer.close()


def load(port: int, model: str, requests: int, concurrency: int, max_tokens: int) -> dict[str, float]:
    async def go() -> tuple[float, list[float], list[str]]:
        bodies: asyncio.Queue = asyncio.Queue()
        for i in range(requests):
            message = {"role": "user", "content": f"Where is my parcel {i}? Mail me at user{i}@example.com"}
            bodies.put_nowait(
                json.dumps({"model": model, "messages": [message], "max_tokens": max_tokens}).encode()
            )
        latencies: list[float] = []
        failures: list[str] = []
        started = time.perf_counter()
        await asyncio.gather(
            *(_client(port, "/v1/chat/completions", bodies, latencies, failures) for _ in range(concurrency))
        )
        return time.perf_counter() - started, latencies, failures

    took, latencies, failures = asyncio.run(go())
    if failures:
        raise SystemExit(f"{len(failures)} failed requests, e.g. {failures[0]}")
    latencies.sort()
    return {
        "rps": len(latencies) / took,
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def gateway_for(engine_url: str, deployment: str, db: Path) -> tuple[int, subprocess.Popen]:
    port = free_port()
    argv = [sys.executable, "-m", "llmops.gateway", "--engine-url", engine_url, "--deployment", deployment]
    argv += ["--port", str(port), "--db", f"sqlite:///{db}"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    wait(f"http://127.0.0.1:{port}/health", proc)
    return port, proc


def compare(
    name: str,
    engine_port: int,
    model: str,
    args: argparse.Namespace,
    work: Path,
    *,
    requests: int,
    concurrency: int,
    max_tokens: int = 16,
) -> dict:
    gw_port, gw = gateway_for(f"http://127.0.0.1:{engine_port}", "bench", work / f"{name}.sqlite3")
    runs: dict[str, list[dict]] = {"direct": [], "gateway": []}
    try:
        load(engine_port, model, min(200, requests), concurrency, max_tokens)  # warm both paths
        load(gw_port, "bench", min(200, requests), concurrency, max_tokens)
        alone: dict[str, list[dict]] = {"direct": [], "gateway": []}
        for _ in range(args.rounds):
            runs["direct"].append(load(engine_port, model, requests, concurrency, max_tokens))
            runs["gateway"].append(load(gw_port, "bench", requests, concurrency, max_tokens))
            single = max(20, requests // 20)  # one client at a time: the hop's own cost, no queueing
            alone["direct"].append(load(engine_port, model, single, 1, max_tokens))
            alone["gateway"].append(load(gw_port, "bench", single, 1, max_tokens))
    finally:
        stop(gw)
    one = {k: {m: statistics.median(r[m] for r in v) for m in ("p50", "p99")} for k, v in alone.items()}
    median = {
        k: {m: statistics.median(r[m] for r in v) for m in ("rps", "p50", "p99")} for k, v in runs.items()
    }
    d, g = median["direct"], median["gateway"]
    print(
        f"{name:<22} direct {d['rps']:7.0f} req/s p50 {d['p50']:7.1f} ms p99 {d['p99']:7.1f} ms | "
        f"gateway {g['rps']:7.0f} req/s p50 {g['p50']:7.1f} ms p99 {g['p99']:7.1f} ms | "
        f"added p50 {g['p50'] - d['p50']:+6.1f} ms p99 {g['p99'] - d['p99']:+6.1f} ms | "
        f"throughput ratio {g['rps'] / d['rps']:.3f}\n"
        f"{'':<22} one client at a time: "
        f"direct p50 {one['direct']['p50']:.2f} ms p99 {one['direct']['p99']:.2f} ms"
        f" | gateway p50 {one['gateway']['p50']:.2f} ms p99 {one['gateway']['p99']:.2f} ms"
        f" | added p50 {one['gateway']['p50'] - one['direct']['p50']:+.2f} ms"
        f" p99 {one['gateway']['p99'] - one['direct']['p99']:+.2f} ms",
        flush=True,
    )
    return median


def fake_engine(delay_ms: float) -> tuple[int, subprocess.Popen]:
    port = free_port()
    env = {**os.environ, "FAKE_ENGINE_DELAY_MS": str(delay_ms), "FAKE_ENGINE_MODEL": "fake-model"}
    proc = subprocess.Popen([sys.executable, str(FAKE_ENGINE), "--port", str(port)], env=env)
    wait(f"http://127.0.0.1:{port}/v1/models", proc)
    return port, proc


def real_engine(work: Path) -> tuple[int, subprocess.Popen, str]:
    """`transformers serve` with a tiny Llama built from a config, through the deploy engine module."""
    from llmops.compiler.kinds.deployment import Deployment
    from llmops.compiler.stages.model import PathModel
    from llmops.runners.base.run import run
    from llmops.runners.deploy import engine as engines
    from llmops.runners.registry import typed_config

    data = work / "data" / "qa"
    data.mkdir(parents=True)
    rows = [{"text": f"Where is my parcel {i}?", "answer": "It ships in two days."} for i in range(40)]
    for split in ("train", "validation", "test"):
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    build = {
        "architecture": "llama",
        "config": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2},
        "tokenizer_dataset": "qa",
        "vocab_size": 300,
        "pretrain_steps": 0,
        "pretrain_lr": 3e-3,
        "pretrain_batch_size": 8,
        "max_length": 64,
        "text_columns": ["text", "answer"],
    }
    config = {
        "stage": "base-bench",
        "kind": "base",
        "runner_version": 1,
        "spec": {"name": "bench", "base_model": {"build": build}},
        "inputs": {"dataset": "data/qa", "seed": 7},
        "outputs": {"outs": ["base"], "metrics": [], "plots": [], "reports": []},
    }
    run(typed_config(config), work)  # type: ignore[arg-type]
    spec = Deployment.model_validate(
        {
            "kind": "Deployment",
            "name": "real",
            "model": {"path": "base"},
            "environment": "bench",
            "engine": {"type": "transformers"},
        }
    )
    served = engines.prepare_model(spec, PathModel(path="base"), work)
    port = engines.free_port()
    argv = engines.engine_argv(spec, served, host="127.0.0.1", port=port)
    env = {**engines.engine_env(spec, served), "OMP_NUM_THREADS": "1"}  # leave a core to the rest
    proc = engines.start_engine(argv, work / "engine.log", cwd=served.workdir, env=env)
    engines.wait_ready(f"http://127.0.0.1:{port}", 300, proc)
    return port, proc, served.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--delays", default="0,20", help="fake engine answer delays in ms, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--real", action="store_true", help="also the real transformers engine (tiny Llama)")
    parser.add_argument("--real-requests", type=int, default=200)
    args = parser.parse_args()
    print(
        f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}; "
        f"{args.rounds} alternating rounds, medians"
    )
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        work = Path(tmp)
        for delay in [float(d) for d in args.delays.split(",") if d]:
            port, proc = fake_engine(delay)
            try:
                compare(
                    f"fake engine {delay:g} ms",
                    port,
                    "fake-model",
                    args,
                    work,
                    requests=args.requests,
                    concurrency=args.concurrency,
                )
            finally:
                stop(proc)
        if args.real:
            from llmops.runners.deploy.engine import stop_engine

            port, proc, model = real_engine(work / "real")
            try:
                compare(
                    "transformers serve",
                    port,
                    model,
                    args,
                    work,
                    requests=args.real_requests,
                    concurrency=8,
                    max_tokens=8,
                )
            finally:
                stop_engine(proc)


if __name__ == "__main__":
    main()
