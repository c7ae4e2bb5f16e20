"""Starting real service processes on loopback for the benchmarks: sites and a gateway, each stopped
when the block ends, and the keys and registry that join them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]

__all__ = ["REPO", "Federation", "federation", "free_port", "services", "site_host_spec", "site_service_spec"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def site_service_spec(name: str, site_id: str, data_dir: Path, gateway_key: Path) -> tuple[str, list[str]]:
    """A ``services`` spec for one site service process under ``passages`` egress (benchmarks score
    the passages' text)."""
    args = ["api.site_service", "--site", site_id, "--data-dir", str(data_dir), "--gateway-key", str(gateway_key)]
    return name, [*args, "--egress", "passages"]


def site_host_spec(
    name: str, sites: Sequence[tuple[str, Path]], gateway_key: Path, config_dir: Path
) -> tuple[str, list[str]]:
    """A ``services`` spec for one site host process serving ``sites`` (site id, data dir holding its
    folder), each at ``<url>/sites/<site id>``, under ``passages`` egress; its config is written to
    ``config_dir/<name>.toml``."""
    lines = [f'gateway_key_file = "{gateway_key}"', 'egress = "passages"']
    for site_id, data_dir in sites:
        lines += ["", "[[sites]]", f'site_id = "{site_id}"', f'data_dir = "{data_dir}"']
    config = config_dir / f"{name}.toml"
    config.write_text("\n".join(lines) + "\n")
    return name, ["api.site_service", "--config", str(config)]


@contextmanager
def services(
    specs: Sequence[tuple[str, list[str]]],
    log_dir: Path,
    env: dict[str, str] | None = None,
    pids: list[int] | None = None,
) -> Iterator[list[str]]:
    """Start ``python -m <args> --port P`` for each spec on loopback, wait for /health, always stop.
    ``pids``, when given, receives the processes' ids in the order of ``specs``."""
    environment = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": str(REPO),
        **(env or {}),
    }
    procs, urls = [], []
    try:
        for name, args in specs:
            port = free_port()
            with (log_dir / f"{name}.log").open("wb") as log:
                cmd = [sys.executable, "-m", *args, "--port", str(port), "--log-level", "warning"]
                procs.append(subprocess.Popen(cmd, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT))
            urls.append(f"http://127.0.0.1:{port}")
            if pids is not None:
                pids.append(procs[-1].pid)
        deadline = time.monotonic() + 600
        for (name, _), proc, url in zip(specs, procs, urls, strict=True):
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start: {(log_dir / f'{name}.log').read_text()[-2000:]}")
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@dataclass(frozen=True)
class Federation:
    """A running gateway in front of real site services: its URL, an API key, and every process id
    (the gateway's first, then the sites' in the order they were given)."""

    gateway_url: str
    key: str
    pids: list[int]
    home: Path

    def new_key(self, role: str = "engineer") -> str:
        """One more API key (another caller) of ``role``."""
        from api.gateway.keystore import KeyStore, Role
        from rag_fed.coordinator.settings import GatewaySettings

        return KeyStore(GatewaySettings(home=self.home).database).create(Role(role), None).key


@contextmanager
def federation(
    name: str, site_dirs: dict[str, Path], tmp: Path, role: str = "evaluator", config_lines: str = ""
) -> Iterator[Federation]:
    """Serve ``site_dirs`` (site id -> its data dir, already ingested) as site services behind a gateway
    with a fresh key pair and registry (deadline 30 s) and a ``role`` API key; everything stops after.
    ``config_lines``: top-level TOML settings of the gateway (``answers_in_flight = 64``)."""
    from api.gateway.keystore import KeyStore, Role
    from rag_fed.coordinator.settings import GatewaySettings
    from rag_fed.crypto import KeyPair
    from rag_fed.federation import SiteRegistry
    from rag_fed.site.layout import SiteLayout

    home = tmp / f"gateway-{name}"
    gateway_settings = GatewaySettings(home=home)
    KeyPair.generate().save(gateway_settings.keys_dir)
    registry = SiteRegistry(gateway_settings.registry_path)
    config = home / "gateway.toml"
    config.write_text(f'home = "{home}"\n{config_lines}\n[routing]\ndeadline_s = 30\n')
    specs = [
        site_service_spec(f"{name}-{sid}", sid, data_dir, gateway_settings.public_key_file)
        for sid, data_dir in site_dirs.items()
    ]
    site_pids: list[int] = []
    with services(specs, tmp, pids=site_pids) as urls:
        for (sid, data_dir), url in zip(site_dirs.items(), urls, strict=True):
            registry.register(sid, url, KeyPair.load(SiteLayout.for_site(data_dir, sid).keys_dir).public_key_text)
        gateway_pids: list[int] = []
        with services([(f"{name}-gateway", ["api.gateway", "--config", str(config)])], tmp, pids=gateway_pids) as (
            gateway_url,
        ):
            key = KeyStore(gateway_settings.database).create(Role(role), None).key
            yield Federation(gateway_url, key, [*gateway_pids, *site_pids], home)


def pin_apart(host_pids: Sequence[int]) -> None:
    """Every thread of this process on CPU 0, every thread of the site hosts on the other CPUs."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("--pin needs at least two CPUs")
    for pid, wanted in [(os.getpid(), {cpus[0]}), *((pid, set(cpus[1:])) for pid in host_pids)]:
        for task in Path(f"/proc/{pid}/task").iterdir():
            os.sched_setaffinity(int(task.name), wanted)
    print(f"pinned: gateway on CPU {cpus[0]}, {len(host_pids)} site hosts on CPUs {cpus[1:]}", flush=True)
