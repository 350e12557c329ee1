"""`llmops serve DEPLOYMENT`: the engine and the gateway in front of it, in the foreground.

By default it prepares the Deployment's model and starts the engine itself (`transformers serve`
on CPU, vLLM on GPU) on a free loopback port, waits until it answers, then serves the gateway on
`serving.host:serving.port` until Ctrl-C or SIGTERM, which stop both (requests in flight finish
and every log row is written first). `--engine-url` fronts an engine already running;
`--follow` tracks the deploy stage's live record, so a blue/green switch needs no restart.
Serving locally is not a deployment: it needs no approval.
"""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, cast

from llmops.errors import UsageError

if TYPE_CHECKING:
    from llmops.compiler.stages.deploy import DeployConfig


class _Stop(Exception):
    """SIGTERM, turned into an exception once uvicorn has shut down gracefully."""


def cmd_serve(args: argparse.Namespace) -> int:
    root = Path(args.project).resolve()
    config = _deploy_config(root, args.deployment)
    spec = config.spec  # the typed Deployment
    name = spec.name
    serving = spec.serving
    host = args.host or serving.host
    port = args.port or serving.port
    api_key = _api_key(serving.api_key_env)
    from llmops.gateway.abuse import guard_from_spec, keys_from_env

    api_keys = keys_from_env(serving)  # named keys: traffic is logged and rate-limited per key

    from llmops.gateway.server import port_free

    if not port_free(host, port):
        raise UsageError(
            f"port {port} on {host} is in use; pick another with --port (serving.port is {port})"
        )

    import sqlalchemy as sa

    from llmops.feedback_db import store
    from llmops.gateway.app import Gateway, build_app
    from llmops.gateway.server import make_server
    from llmops.gateway.upstream import Upstream
    from llmops.runners.deploy import engine as engines

    db_url = args.db or store.default_url(root, name)
    try:
        db = store.connect(db_url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise UsageError(f"the store URL {db_url!r} is not a usable SQLAlchemy URL: {exc}") from None
    except sa.exc.OperationalError as exc:
        shown = sa.make_url(db_url).render_as_string(hide_password=True)
        detail = str(exc.orig or exc).strip().splitlines()[0]
        raise UsageError(
            f"cannot open the store at {shown}: {detail} (check --db or ${store.ENV_URL})"
        ) from None

    rag = _open_rag(config, root)
    guard = guard_from_spec(serving.abuse, serving.rate_limit, root)  # loads a classifier, if any
    proc = None
    engine_line: str
    if args.engine_url:
        upstream = Upstream(url=args.engine_url)
        engine_line = f"{args.engine_url} (already running)"
    elif args.follow:
        live = engines.serve_dir(root, name) / "live.json"
        upstream = Upstream(live_file=live)
        engine_line = f"following {live}"
    else:
        served = engines.prepare_model(spec, config.inputs.model, root)
        engine_port = engines.free_port("127.0.0.1")
        argv = engines.engine_argv(spec, served, host="127.0.0.1", port=engine_port)
        log = engines.serve_dir(root, name) / "serve-engine.log"
        url = f"http://127.0.0.1:{engine_port}"
        print(f"llmops serve: starting {engines.choose_engine(spec)} for {name} (log: {log})", flush=True)
        proc = engines.start_engine(argv, log, cwd=served.workdir, env=engines.engine_env(spec, served))
        try:
            engines.wait_ready(url, spec.engine.startup_timeout_s, proc)
        except BaseException:
            engines.stop_engine(proc)
            raise
        upstream = Upstream(url=url)
        engine_line = f"{url} ({engines.choose_engine(spec)}, pid {proc.pid}, log {log})"

    gateway = Gateway(
        name, db, upstream, api_key=api_key, served_name=name, rag=rag, api_keys=api_keys, guard=guard
    )
    server = make_server(build_app(gateway), host, port)
    public = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    shown_db = sa.make_url(db_url).render_as_string(hide_password=True)
    print(
        f"llmops serve: {name} is up\n"
        f"  gateway   {public}/v1  (OpenAI-compatible; model '{name}')\n"
        f"  auth      {_auth_line(serving, api_key)}\n"
        f"  abuse     {_abuse_line(serving)}\n"
        f"  feedback  POST {public}/v1/feedback\n"
        f"  metrics   {public}/metrics\n"
        f"  engine    {engine_line}\n"
        f"  store     {shown_db}\n"
        + (_rag_line(rag) if rag else "")
        + "Ctrl-C stops the gateway"
        + (" and the engine" if proc else ""),
        flush=True,
    )
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        server.run()
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc is not None:
            engines.stop_engine(proc)
        db.dispose()
    if not server.started:
        return 1
    print(f"llmops serve: {name} stopped; {gateway.writer.committed} rows written", flush=True)
    return 0


def _open_rag(config: DeployConfig, root: Path):  # type: ignore[no-untyped-def]
    """The Deployment's retrieval Prompt made ready (embedding model and index loaded once, now),
    or None when the Deployment names no Prompt or its Prompt does not retrieve."""
    prompt = getattr(config.inputs, "prompt", None)
    retrieval = getattr(prompt, "retrieval", None) if prompt is not None else None
    if retrieval is None:
        return None
    index = getattr(config.inputs, "retrieval_index", None)
    name = getattr(retrieval, "index", "?")
    if not index:
        raise UsageError(
            f"prompt {prompt.name} retrieves from {name}, but the deploy stage has no index folder: "
            "recompile the project with `llmops compile`"
        )
    from llmops.gateway.rag import RagFlow
    from llmops.paths import inside

    folder = inside(root, index, "retrieval_index")
    if not (folder / "manifest.json").is_file():
        raise UsageError(
            f"the knowledge index {name} is not built ({index}/manifest.json is missing): run "
            f"`llmops run index-{name}` (or `dvc pull` it) before serving"
        )
    print(f"llmops serve: loading knowledge index {name} from {index}", flush=True)
    return RagFlow.open(prompt, folder, root)


def _rag_line(rag) -> str:  # type: ignore[no-untyped-def]
    route = (
        f"chat_format {rag.template.chat_format}: prompt text to the engine's /v1/completions"
        if rag.text_format
        else "chat_format tokenizer: messages to the engine's /v1/chat/completions"
    )
    return f"  retrieval {rag.settings.index} (top {rag.settings.top_k}, cited; {route})\n"


def _auth_line(serving, api_key: str | None) -> str:  # type: ignore[no-untyped-def]
    parts = ["Bearer key from $" + str(serving.api_key_env)] if api_key else []
    if serving.api_keys_env:
        named = ", ".join(f"{name} (${env})" for name, env in serving.api_keys_env.items())
        parts.append(f"named Bearer keys {named}")
    return "; ".join(parts) or "none"


def _abuse_line(serving) -> str:  # type: ignore[no-untyped-def]
    abuse, limit = serving.abuse, serving.rate_limit
    screen = ("blocking" if abuse.block else "flagging") if abuse.detect else "off"
    if abuse.detect and abuse.classifier is not None:
        screen += f" (patterns + classifier {abuse.classifier.path or abuse.classifier.hub_id})"
    rate = f"{limit.requests_per_minute:g}/min burst {limit.burst} per key" if limit else "no rate limit"
    return f"screen {screen}; {rate}"


def _raise_stop(_signum: int, _frame: object) -> None:
    raise _Stop()


def _deploy_config(root: Path, deployment: str) -> DeployConfig:
    """The deploy stage's typed config (the Deployment spec and its resolved model input)."""
    from llmops.compiler.compile import plan_graph
    from llmops.compiler.diagnose import suggest
    from llmops.compiler.parse import load_project

    _, graph = plan_graph(load_project(root))
    configs = {s.spec.name: s for s in graph.order if s.kind == "deploy"}
    if deployment not in configs:
        hint = suggest(deployment, configs)
        known = ", ".join(sorted(configs)) or "none"
        raise UsageError(
            f"no Deployment '{deployment}' in {root}" + (f"; {hint}" if hint else f"; deployments: {known}")
        )
    return cast("DeployConfig", configs[deployment].config)  # a deploy stage's config


def _api_key(env_name: str | None) -> str | None:
    if not env_name:
        return None
    value = os.environ.get(env_name, "")
    if not value:
        raise UsageError(
            f"serving.api_key_env names ${env_name}, which is not set: export it (the clients' API key) "
            "or remove api_key_env from the Deployment"
        )
    return value
