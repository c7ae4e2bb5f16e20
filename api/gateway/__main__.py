"""``python -m api.gateway --port P --config gateway.toml``: serve the gateway."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import uvicorn

from api.gateway.app import build_service, create_gateway_app
from api.gateway.settings import GatewaySettings
from rag_fed.errors import RagFedError

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.gateway", description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--config", type=Path, help="gateway TOML settings (default: built-in defaults)")
    parser.add_argument("--home", type=Path, help="folder of the gateway's keys, databases (overrides config)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        service = build_service(GatewaySettings.load(args.config, home=args.home))
    except RagFedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    uvicorn.run(create_gateway_app(service), host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
