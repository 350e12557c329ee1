"""`python -m llmops.gateway --engine-url URL [--deployment NAME] [--port N] [--db URL]`: the gateway
alone, without a project checkout (in front of an engine started elsewhere: a container next to a
KServe predictor, a benchmark). `llmops serve` is the usual way in. The API key, if any, comes from
the environment variable named by `--api-key-env`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmops.gateway", description=__doc__.split("\n")[0])
    parser.add_argument("--engine-url", required=True, metavar="URL")
    parser.add_argument("--deployment", default="default", help="the public model name (default: default)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--db", metavar="URL", help="store URL (default: $LLMOPS_FEEDBACK_DB_URL or ./.llmops/...)"
    )
    parser.add_argument(
        "--api-key-env", metavar="VAR", help="require 'Bearer $VAR' on every route but /health"
    )
    args = parser.parse_args(argv)
    from llmops.feedback_db import store
    from llmops.gateway.app import Gateway, build_app
    from llmops.gateway.server import make_server
    from llmops.gateway.upstream import Upstream

    key = os.environ.get(args.api_key_env, "") if args.api_key_env else None
    if args.api_key_env and not key:
        print(f"error: ${args.api_key_env} is not set", file=sys.stderr)
        return 2
    db = store.connect(args.db or store.default_url(Path.cwd(), args.deployment))
    gateway = Gateway(args.deployment, db, Upstream(url=args.engine_url), api_key=key)
    print(f"gateway for {args.engine_url} on http://{args.host}:{args.port}", flush=True)
    make_server(build_app(gateway), args.host, args.port).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
