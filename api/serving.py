"""What the site service and the gateway share to start: their common flags, logging, and uvicorn, over
plain HTTP by default or HTTPS when a certificate and its key are configured.

Plain HTTP is the default because every payload between gateway and sites is sealed end to end
(docs/envelopes.md); TLS is for operators whose network policy asks for it (docs/architecture.md, TLS).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import logging
import os
import ssl
import sys
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from rag_fed.errors import ConfigError
from rag_fed.observability import LogFormat
from rag_fed.observability import configure_logging as configure_process_logging
from rag_fed.service_settings import ServerTlsSettings

__all__ = [
    "MALLOC_ARENAS",
    "add_server_arguments",
    "check_server_tls",
    "configure_logging",
    "fail",
    "limit_malloc_arenas",
    "serve",
]

MALLOC_ARENAS = 2
"""glibc malloc arenas a service may use (glibc's own default: 8 per core)."""
_M_ARENA_MAX = -8  # mallopt parameter number, <malloc.h>


def add_server_arguments(parser: argparse.ArgumentParser, *, default_port: int) -> None:
    """``--port --host --tls-cert --tls-key --log-level``, the same for both services."""
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate: serve HTTPS (needs --tls-key)")
    parser.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    parser.add_argument("--log-level", default="info")


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    """Text until the settings are read; then again in their ``log_format`` (docs/operations.md)."""
    configure_process_logging(level, log_format)


def check_server_tls(settings: ServerTlsSettings) -> None:
    """Load the certificate and key once before anything slow starts, so a wrong file is a one-line
    ``ConfigError`` rather than a traceback from uvicorn after the models have loaded."""
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if cert is None or key is None:
        return
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # An empty password makes an encrypted key fail here instead of OpenSSL prompting on stdin.
        context.load_cert_chain(cert, key, password=lambda: b"")
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            f"cannot serve HTTPS with tls_cert_file={cert} and tls_key_file={key}: {error}. Both must be readable "
            "PEM files, the key unencrypted and belonging to the certificate"
        ) from None


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas``; whether it was done (not where ``MALLOC_ARENA_MAX`` is set,
    which stands, nor without glibc).

    Why: a service answers in a pool of worker threads, and glibc gives threads arenas of their own, up to
    8 per core, each holding freed memory it does not return. The gateway's resident memory grew by about
    7 MiB per thousand answers without levelling off while its Python heap stayed flat (docs/benchmarks.md,
    soak); fewer arenas share and reuse freed memory."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))


def serve(app: ASGIApp, args: argparse.Namespace, tls: ServerTlsSettings, log_format: LogFormat = "text") -> None:
    """Run ``app`` until stopped; HTTPS when ``tls`` names a certificate and key. With JSON logs uvicorn's
    own lines (access log included) go through the same JSON handler instead of uvicorn's text format.
    The worker threads that answer requests share :data:`MALLOC_ARENAS` malloc arenas."""
    limit_malloc_arenas()
    if tls.serves_tls:
        logging.getLogger(__name__).info("serving HTTPS with certificate %s", tls.tls_cert_file)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        ssl_certfile=tls.tls_cert_file,
        ssl_keyfile=tls.tls_key_file,
        log_config=None if log_format == "json" else uvicorn.config.LOGGING_CONFIG,
    )


def fail(error: Exception) -> int:
    """Report a startup error in one line (no traceback) and return the exit status."""
    print(f"error: {error}", file=sys.stderr)
    return 1
