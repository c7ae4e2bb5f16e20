"""A site host: several sites in one site-service process, each site's own app under ``/sites/<site id>``.

Each site keeps everything that makes it a site: its key pair, folder, egress policy, admin keys, replay
journal, audit log and metrics, in its own responder and its own app (``create_site_app``, unchanged).
What the sites share is the process: one loaded embedder per model and one local model, which is what
makes fifty sites fit on one machine (docs/architecture.md, "A site host").

The host strips the ``/sites/<site id>`` prefix before a site's app sees a request (and sets
``root_path``), so the app, its middlewares and its routes see the same paths as a site served alone,
and the gateway's ``f"{site.url}{QUERY_PATH}"`` works for a registry URL ``http://host:port/sites/<id>``.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, nullcontext

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response, install_error_handlers
from api.site_service.app import create_site_app
from api.site_service.host_batch import install_host_batch
from api.site_service.host_settings import SiteHostSettings
from api.site_service.open_site import ServiceResponder, open_responder
from rag_fed.config import GeneratorSettings, Settings
from rag_fed.embedders import load_embedder
from rag_fed.embedders.base import Embedder
from rag_fed.errors import RagFedError
from rag_fed.generators import load_generator
from rag_fed.generators.base import ChatMessage, Generator
from rag_fed.site.layout import SiteLayout
from rag_fed.site.serving import embedder_settings
from rag_fed.site.versions import read_pointer
from rag_fed.wire.paths import SITES_PREFIX

__all__ = ["HostHealth", "SharedGenerator", "create_host_app", "open_host_responders"]


class SharedGenerator:
    """One model for every site of a host, loaded when a site first phrases an answer; a local one runs
    one generation at a time (llama.cpp is not thread-safe, and two cores run one anyway), an
    OpenAI-compatible endpoint takes the sites' calls as they come."""

    def __init__(self, settings: GeneratorSettings) -> None:
        self._settings = settings
        self._model: Generator | None = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock() if settings.backend != "openai" else None

    @property
    def name(self) -> str:
        return self._settings.backend if self._model is None else self._model.name

    def _loaded(self) -> Generator:
        with self._load_lock:
            if self._model is None:
                self._model = load_generator(self._settings)
            return self._model

    def generate(self, messages: Sequence[ChatMessage], max_tokens: int = 256, temperature: float = 0.0) -> str:
        model = self._loaded()
        with self._run_lock or nullcontext():
            return model.generate(messages, max_tokens=max_tokens, temperature=temperature)

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        model = self._loaded()
        with self._run_lock or nullcontext():
            yield from model.stream(messages, max_tokens=max_tokens, temperature=temperature)


def open_host_responders(settings: SiteHostSettings, core: Settings) -> dict[str, ServiceResponder]:
    """Open every site of ``settings`` with its own keys, sharing one embedder per model and one generator.
    On an error every site opened so far is closed again."""
    embedders: dict[tuple[str, str], Embedder] = {}
    generator = SharedGenerator(core.generator)
    responders: dict[str, ServiceResponder] = {}
    try:
        for hosted in settings.sites:
            hosted.settings.gateway_key()  # a missing key is the first thing to say, before any site is read
            site_core = core if hosted.data_dir is None else core.model_copy(update={"data_dir": hosted.data_dir})
            site_id = hosted.settings.site_id
            model = _serving_model(site_core, site_id)
            model_settings = embedder_settings(site_core, model)
            key = (model, model_settings.model_dump_json())
            if key not in embedders:
                embedders[key] = load_embedder(model_settings)
            responders[site_id] = open_responder(
                hosted.settings, site_core, embedder=embedders[key], generator=generator
            )
    except RagFedError:
        for responder in responders.values():
            responder.site.close()
        raise
    return responders


def _serving_model(core: Settings, site_id: str) -> str:
    """The embedder model the site serves: its pointer's after a rollout, else the configured one."""
    layout = SiteLayout.for_site(core.data_dir, site_id).require()
    pointer = read_pointer(layout)
    return pointer.active.model if pointer is not None else core.embedder.model


class HostHealth(BaseModel):
    """``sites``: each hosted site's id and the embedder version it serves."""

    status: str
    sites: dict[str, str]


class _SiteDispatch:
    """Sends ``/sites/<id>/...`` to site ``id``'s app with the prefix moved into ``root_path``; the rest
    (``/health`` of the host) to the host's own app; a request for a site not hosted here: 404."""

    def __init__(self, host_app: ASGIApp, site_apps: Mapping[str, ASGIApp]) -> None:
        self._host, self._sites = host_app, dict(site_apps)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] not in ("http", "websocket") or not path.startswith(SITES_PREFIX + "/"):
            await self._host(scope, receive, send)
            return
        site_id, _, rest = path[len(SITES_PREFIX) + 1 :].partition("/")
        app = self._sites.get(site_id)
        if app is None:
            await error_response(404, "NotFoundError", f"no site {site_id!r} on this host")(scope, receive, send)
            return
        prefix = f"{SITES_PREFIX}/{site_id}"
        raw = scope.get("raw_path")
        child = {
            **scope,
            "path": "/" + rest,
            "raw_path": raw[len(prefix) :] if isinstance(raw, bytes) and raw.startswith(prefix.encode()) else raw,
            "root_path": str(scope.get("root_path", "")) + prefix,
        }
        await app(child, receive, send)


def create_host_app(responders: Mapping[str, ServiceResponder]) -> ASGIApp:
    """The app serving every responder's site under ``/sites/<site id>``, the host's ``/health``, and
    ``POST /v1/host/query``: the sealed queries of several of its sites in one request (host_batch.py).

    Each site's app runs its own lifespan (metrics server, closing the site's store) inside the host's:
    the host calls the sites' apps directly, so nobody else would."""
    site_apps = {site_id: create_site_app(responder) for site_id, responder in responders.items()}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for site_app in site_apps.values():
                await stack.enter_async_context(site_app.router.lifespan_context(site_app))
            yield

    host = FastAPI(title="rag-fed site host", version="1", lifespan=lifespan, docs_url=None, redoc_url=None)
    install_error_handlers(host)
    install_host_batch(host, {site_id: (responders[site_id], app.state.metrics) for site_id, app in site_apps.items()})

    @host.get("/health", tags=["operations"])
    async def health() -> HostHealth:
        """The host is up; each site's own ``/sites/<site id>/health`` says more."""
        return HostHealth(
            status="ok", sites={site_id: responder.site.serving_version for site_id, responder in responders.items()}
        )

    return _SiteDispatch(host, site_apps)
