"""``python -m api.gateway --port P --config gateway.toml``: serve the gateway.

Plain HTTP by default; HTTPS with ``--tls-cert CERT --tls-key KEY`` (or both in ``--config``).
``--tls-ca BUNDLE`` is the CA bundle that https:// site URLs are verified against.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from api.gateway.app import build_service, create_gateway_app
from api.serving import add_server_arguments, check_server_tls, configure_logging, fail, serve
from rag_fed.coordinator.settings import GatewaySettings
from rag_fed.errors import RagFedError
from rag_fed.observability import configure_tracing

__all__ = ["main", "parse_args"]


def parse_args(argv: list[str] | None = None, prog: str = "python -m api.gateway") -> argparse.Namespace:
    """The service's flags, declared here only: ``ragfed serve gateway`` passes its arguments on to this."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--config", type=Path, help="gateway TOML settings (default: built-in defaults)")
    parser.add_argument("--home", type=Path, help="folder of the gateway's keys, databases (overrides config)")
    parser.add_argument("--tls-ca", type=Path, help="PEM CA bundle for https:// sites (default: system trust store)")
    add_server_arguments(parser, default_port=8000)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, prog: str = "python -m api.gateway") -> int:
    args = parse_args(argv, prog)
    configure_logging(args.log_level)
    try:
        settings = GatewaySettings.load(
            args.config, home=args.home, tls_cert_file=args.tls_cert, tls_key_file=args.tls_key, tls_ca_file=args.tls_ca
        )
        configure_logging(args.log_level, settings.log_format)
        configure_tracing(settings.tracing, "ragfed-gateway")
        check_server_tls(settings)
        service = build_service(settings)
    except RagFedError as error:
        return fail(error)
    serve(create_gateway_app(service), args, settings, settings.log_format)
    return 0


if __name__ == "__main__":
    sys.exit(main())
