"""``python -m api.site_service --site ID --port P --data-dir D --gateway-key PATH``: serve one site.

Plain HTTP by default; HTTPS with ``--tls-cert CERT --tls-key KEY`` (or both in ``--config``).
Several sites in one process (a site host, each site under ``/sites/<site id>``): repeat ``--site``, or
give a ``--config`` with one ``[[sites]]`` table per site (api/site_service/host_settings.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from api.serving import add_server_arguments, check_server_tls, configure_logging, fail, serve
from api.site_service.app import create_site_app
from api.site_service.host import create_host_app, open_host_responders
from api.site_service.host_settings import SiteHostSettings, read_toml
from api.site_service.open_site import open_responder
from api.site_service.settings import SiteServiceSettings
from rag_fed.config import Settings, get_settings
from rag_fed.errors import ConfigError, RagFedError
from rag_fed.observability import configure_tracing

__all__ = ["main", "parse_args"]


def parse_args(argv: list[str] | None = None, prog: str = "python -m api.site_service") -> argparse.Namespace:
    """The service's flags, declared here only: ``ragfed serve site`` passes its arguments on to this."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument(
        "--site",
        "-s",
        action="append",
        default=[],
        help="site id (or site_id in --config); repeat it to host several sites, each at /sites/<site id>",
    )
    parser.add_argument("--data-dir", type=Path, help="data directory holding the site's folder")
    parser.add_argument(
        "--gateway-key", type=Path, help="the gateway's public.key file (`ragfed gateway init` prints its path)"
    )
    parser.add_argument("--gateway-id", help="the gateway's node id (default: gateway)")
    parser.add_argument("--egress", choices=["answer", "snippets", "passages"])
    parser.add_argument("--config", type=Path, help="TOML file with the site service settings")
    add_server_arguments(parser, default_port=8101)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, prog: str = "python -m api.site_service") -> int:
    args = parse_args(argv, prog)
    configure_logging(args.log_level)
    if not args.site and args.config is None:
        return fail(ConfigError("name the site to serve: --site ID (repeat it to host several), or --config FILE"))
    if len(args.site) > 1 or (args.config is not None and "sites" in _read_config(args.config)):
        return _serve_host(args)
    try:
        settings = SiteServiceSettings.load(
            args.config,
            site_id=args.site[0] if args.site else None,
            gateway_key_file=args.gateway_key,
            gateway_id=args.gateway_id,
            egress=args.egress,
            tls_cert_file=args.tls_cert,
            tls_key_file=args.tls_key,
        )
        configure_logging(args.log_level, settings.log_format)
        configure_tracing(settings.tracing, f"ragfed-site-{settings.site_id}")
        check_server_tls(settings)
        core = _core_settings(args)
        responder = open_responder(settings, core)
    except RagFedError as error:
        return fail(error)
    serve(create_site_app(responder), args, settings, settings.log_format)
    return 0


def _core_settings(args: argparse.Namespace) -> Settings:
    """The core settings, with ``--data-dir`` over the configured data directory."""
    core = get_settings()
    return core if args.data_dir is None else core.model_copy(update={"data_dir": args.data_dir})


def _read_config(path: Path) -> dict[str, object]:
    try:
        return read_toml(path)
    except RagFedError:
        return {}  # reported by the settings' own loading, with the same message


def _serve_host(args: argparse.Namespace) -> int:
    """Several sites in this process, each under ``/sites/<site id>`` (api/site_service/host.py)."""
    try:
        settings = SiteHostSettings.load(
            args.config,
            args.site,
            gateway_key_file=args.gateway_key,
            gateway_id=args.gateway_id,
            egress=args.egress,
            tls_cert_file=args.tls_cert,
            tls_key_file=args.tls_key,
        )
        configure_logging(args.log_level, settings.log_format)
        configure_tracing(settings.tracing, "ragfed-site-host")
        check_server_tls(settings)
        core = _core_settings(args)
        responders = open_host_responders(settings, core)
    except RagFedError as error:
        return fail(error)
    serve(create_host_app(responders), args, settings, settings.log_format)
    return 0


if __name__ == "__main__":
    sys.exit(main())
