"""``ragfed demo``: three sample plants and a gateway as separate processes on loopback.

The sites are created from ``rag_fed/samples/federation/<plant>/`` (re-running skips what is already
ingested), registered with fresh ports, and an engineer key is made. Ctrl-C or SIGTERM stops every
process; ``--no-wait`` asks one sample question through the gateway with the openai client and stops.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

import rag_fed
from rag_fed.cli.common import console, error_console, reports_errors, set_offline_defaults
from rag_fed.errors import RagFedError

if TYPE_CHECKING:  # the rest is imported by the command itself: `ragfed --help` must not load it
    from rag_fed.config import Settings
    from rag_fed.federation import SiteRegistry

__all__ = ["SAMPLE_QUESTION", "SAMPLE_SITES", "demo", "register"]

SAMPLES = Path(rag_fed.__file__).parent / "samples" / "federation"
SAMPLE_SITES = ("plant-north", "plant-south", "plant-east")
SAMPLE_QUESTION = "The slurry pump gland is leaking. What should I check and how do I fix it?"
_GATEWAY_CONFIG = 'home = "{home}"\n'  # the gateway's defaults otherwise, as an operator gets them


class _Stop(Exception):
    """SIGTERM, turned into an exception so the same clean-up runs as for Ctrl-C."""


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _prepare_sites(settings: Settings) -> None:
    from rag_fed.embedders import load_embedder
    from rag_fed.site import Site, SiteLayout

    embedder = None
    for site_id in SAMPLE_SITES:
        if not SiteLayout.for_site(settings.data_dir, site_id).exists():
            Site.init(site_id, settings)
        embedder = embedder or load_embedder(settings.embedder)
        with Site.open(site_id, settings, embedder=embedder) as site:
            report = site.ingest([SAMPLES / site_id])
            console.print(f"  {site_id}: {site.chunk_count} chunks ({report.chunks} new)")


def _spawn(name: str, args: list[str], logs: Path) -> _Process:
    port = _free_port()
    log = logs / f"{name}.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(rag_fed.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
    }
    with log.open("wb") as out:
        # A session of its own: a Ctrl-C in the terminal reaches only the demo, which stops the rest in order.
        popen = subprocess.Popen(
            [sys.executable, "-m", *args, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    return _Process(name, popen, port, log)


def _wait_healthy(processes: list[_Process], timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    pending = list(processes)
    while pending:
        for process in list(pending):
            if process.popen.poll() is not None:
                raise RagFedError(f"{process.name} exited early; see {process.log}:\n{_tail(process.log)}")
            try:
                if httpx.get(f"{process.url}/health", timeout=2).status_code == 200:
                    pending.remove(process)
                    console.print(f"  {process.name} ready at {process.url}")
            except httpx.HTTPError:
                pass
        if time.monotonic() > deadline:
            raise RagFedError(f"not ready after {timeout_s:.0f} s: {', '.join(p.name for p in pending)}")
        time.sleep(0.5)


def _stop(processes: list[_Process]) -> None:
    for process in processes:
        if process.popen.poll() is None:
            process.popen.terminate()
    for process in processes:
        try:
            process.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait()


def _register(registry: SiteRegistry, sites: dict[str, _Process], data_dir: Path) -> None:
    from rag_fed.crypto import KeyPair

    for site_id, process in sites.items():
        key = KeyPair.load(data_dir / site_id / "keys").public_key_text
        known = {site.site_id: site for site in registry.list()}
        if site_id in known and (known[site_id].url != process.url or known[site_id].public_key != key):
            registry.remove(site_id)  # the demo picks new ports each run
        if site_id not in known or known[site_id].url != process.url:
            registry.register(site_id, process.url, key)


def _instructions(url: str, key: str) -> None:
    body = '{"model": "rag-fed", "messages": [{"role": "user", "content": "' + SAMPLE_QUESTION + '"}]}'
    console.print(f"\n[bold]Gateway[/] {url}   (API docs: {url}/docs)", highlight=False)
    console.print(f"[bold]Engineer API key[/] {key}\n", highlight=False)
    console.print("[bold]curl[/]", highlight=False)
    typer.echo(
        f"curl -s {url}/v1/chat/completions -H 'Authorization: Bearer {key}' \\\n"
        f"  -H 'Content-Type: application/json' -d '{body}'\n"
    )
    console.print("[bold]Python (openai)[/]", highlight=False)
    typer.echo(
        "from openai import OpenAI\n"
        f'client = OpenAI(base_url="{url}/v1", api_key="{key}")\n'
        "reply = client.chat.completions.create(\n"
        f'    model="rag-fed", messages=[{{"role": "user", "content": "{SAMPLE_QUESTION}"}}]\n'
        ")\n"
        "print(reply.choices[0].message.content)\n"
    )


def _ask_once(url: str, key: str) -> None:
    """Ask the sample question on the default (evidence-first, streamed) path and show what came back."""
    from openai import OpenAI

    client = OpenAI(base_url=f"{url}/v1", api_key=key, timeout=600, max_retries=0)
    console.print(f"[bold]Question[/] {SAMPLE_QUESTION}", highlight=False)
    console.print("[bold]Answer[/]")
    started = time.perf_counter()
    first: float | None = None
    extras: dict[str, object] = {}
    stream = client.chat.completions.create(
        model="rag-fed", messages=[{"role": "user", "content": SAMPLE_QUESTION}], stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first = first if first is not None else time.perf_counter() - started
            # markup=False: the answer's [site:doc#section] citations are not rich markup.
            console.print(chunk.choices[0].delta.content, end="", markup=False, highlight=False)
        found = (chunk.model_extra or {}).get("rag_fed")
        if isinstance(found, dict):
            extras = found
    total = time.perf_counter() - started
    console.print(
        f"\n\n  first token {first or total:.2f} s, full answer {total:.2f} s, strategy {extras.get('strategy')}"
    )
    sites = extras.get("sites")
    for site in sites if isinstance(sites, list) else []:
        console.print(f"  {site['site_id']}: {site['status']} in {site['latency_ms']:.0f} ms, {site['bytes']} bytes")


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stop


@reports_errors
def demo(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where the demo keeps its sites and gateway.")] = Path(
        "data/demo"
    ),
    temp: Annotated[bool, typer.Option("--temp", help="Use a temporary data dir, removed at the end.")] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Ask one sample question, then stop.")] = False,
    timeout_s: Annotated[float, typer.Option("--startup-timeout", help="Seconds to wait for the services.")] = 600,
) -> None:
    """Start three sample sites and a gateway on loopback, print how to query them; Ctrl-C stops all."""
    from api.gateway.keystore import KeyStore
    from rag_fed.config import get_settings
    from rag_fed.crypto import KeyPair
    from rag_fed.federation import SiteRegistry

    set_offline_defaults()
    root = Path(tempfile.mkdtemp(prefix="ragfed-demo-")) if temp else data_dir.resolve()
    processes: list[_Process] = []
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        settings = get_settings().model_copy(update={"data_dir": root})
        console.print(f"preparing the sample sites under {root}")
        _prepare_sites(settings)
        home = root / "gateway"
        if not (home / "keys" / "private.key").exists():
            KeyPair.generate().save(home / "keys")
        config = root / "gateway.toml"
        config.write_text(_GATEWAY_CONFIG.format(home=home))
        logs = root / "logs"
        logs.mkdir(exist_ok=True)
        gateway_key = str(home / "keys" / "public.key")
        sites = {
            site_id: _spawn(
                site_id,
                ["api.site_service", "--site", site_id, "--data-dir", str(root), "--gateway-key", gateway_key],
                logs,
            )
            for site_id in SAMPLE_SITES
        }
        processes.extend(sites.values())
        gateway = _spawn("gateway", ["api.gateway", "--config", str(config)], logs)
        processes.append(gateway)
        _register(SiteRegistry(home / "registry.db"), sites, root)
        key = KeyStore(home / "gateway.db").create("engineer", label="demo").key
        console.print(f"starting 3 sites and the gateway (logs in {logs}) ...")
        _wait_healthy(processes, timeout_s)
        _instructions(gateway.url, key)
        if no_wait:
            _ask_once(gateway.url, key)
            return
        console.print("[bold]Running.[/] Press Ctrl-C to stop.")
        while all(process.popen.poll() is None for process in processes):
            time.sleep(1)
        dead = [p for p in processes if p.popen.poll() is not None]
        error_console.print(f"{dead[0].name} stopped unexpectedly; see {dead[0].log}:\n{_tail(dead[0].log)}")
        raise typer.Exit(code=1)
    except (KeyboardInterrupt, _Stop):
        console.print("\nstopping ...")
    finally:
        # A second SIGTERM (a supervisor signals the whole process group, say) must not cut the clean-up short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop(processes)
        signal.signal(signal.SIGTERM, previous)
        if temp:
            shutil.rmtree(root, ignore_errors=True)
        console.print("all demo processes stopped")


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
