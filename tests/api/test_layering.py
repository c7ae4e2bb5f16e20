"""Site and gateway code stay apart: neither package imports the other (they share rag_fed and the wire)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.api.procs import REPO

pytestmark = pytest.mark.unit


def _imports(package: Path) -> set[str]:
    found: set[str] = set()
    for path in [package] if package.is_file() else package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
    return found


@pytest.mark.parametrize(("package", "forbidden"), [("site_service", "api.gateway"), ("gateway", "api.site_service")])
def test_site_and_gateway_do_not_import_each_other(package: str, forbidden: str) -> None:
    imports = _imports(REPO / "api" / package)
    assert imports, "the scan found no imports at all"
    assert not {name for name in imports if name == forbidden or name.startswith(forbidden + ".")}


def test_the_router_does_not_import_the_http_layer() -> None:
    assert not {name for name in _imports(REPO / "rag_fed" / "router") if name.split(".")[0] in ("api", "fastapi")}


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("eval", ("api", "connectors", "indexes")),
        ("api", ("eval", "connectors", "indexes")),
        ("rag_fed", ("api", "eval")),
        ("connectors", ("rag_fed", "indexes", "api", "eval")),
        ("indexes", ("rag_fed", "connectors", "api", "eval")),
    ],
)
def test_imports_point_down_only(package: str, forbidden: tuple[str, ...]) -> None:
    # docs/architecture.md: api/ and eval/ are side by side on top and use only rag_fed below them, never
    # the leaves under it; rag_fed/ uses the leaves; the leaves import nothing of ours nor each other.
    imports = _imports(REPO / package)
    assert imports, "the scan found no imports at all"
    assert not {name for name in imports if name.split(".")[0] in forbidden}


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [("rag_fed/site", "rag_fed.router"), ("api/site_service", "rag_fed.router"), ("rag_fed/router", "rag_fed.site")],
)
def test_site_and_router_share_only_the_protocol(folder: str, forbidden: str) -> None:
    # docs/architecture.md: the URL paths and the sketch message live in rag_fed/wire, shared by both sides.
    imports = _imports(REPO / folder)
    assert imports, "the scan found no imports at all"
    assert not {name for name in imports if name == forbidden or name.startswith(forbidden + ".")}


_ROUTE_DECORATORS = {"get", "post", "put", "patch", "delete", "api_route"}


@pytest.mark.parametrize("service", ["gateway", "site_service"])
def test_both_services_have_the_same_shape(service: str) -> None:
    # docs/architecture.md: each service is deps.py (what its routes depend on), routes_*.py by area and a
    # small app factory that declares no route itself; a routes module needs deps, never another routes module
    folder = REPO / "api" / service
    routes = sorted(folder.glob("routes_*.py"))
    assert len(routes) >= 4 and (folder / "deps.py").is_file()
    for path in routes:
        ours = {name.removeprefix(f"api.{service}.") for name in _imports(path) if name.startswith(f"api.{service}.")}
        assert "deps" in ours, path.name
        assert not {name for name in ours if name.startswith("routes_") or name == "app"}, path.name
    tree = ast.parse((folder / "app.py").read_text())
    routes_in_app = [
        decorator
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for decorator in node.decorator_list
        if isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr in _ROUTE_DECORATORS
    ]
    assert not routes_in_app, f"api/{service}/app.py declares routes; they belong in routes_*.py"


def test_the_site_service_and_the_site_name_their_modules_apart() -> None:
    # api/site_service/responder.py beside rag_fed/site/responder.py read as the same thing twice
    service = {path.stem for path in (REPO / "api" / "site_service").glob("*.py")} - {"__init__", "__main__"}
    site = {path.stem for path in (REPO / "rag_fed" / "site").glob("*.py")} - {"__init__"}
    assert service and site
    assert not service & site


def test_only_tests_import_the_shipped_contracts() -> None:
    # rag_fed/testing needs pytest, a test dependency: the package and the services never import it
    shipped = [path for top in ("rag_fed", "api", "eval") for path in (REPO / top).rglob("*.py")]
    outside = [path for path in shipped if (REPO / "rag_fed" / "testing") not in path.parents]
    assert outside and len(outside) < len(shipped), "the scan found rag_fed/testing and the rest"
    for path in outside:
        imports = _imports(path)
        assert not {name for name in imports if name.startswith("rag_fed.testing") or name == "pytest"}, path


def test_the_scan_sees_a_planted_violation(tmp_path: Path) -> None:
    # the rules above are only as good as the scan: a module importing a leaf from inside a function counts
    planted = tmp_path / "pkg"
    planted.mkdir()
    (planted / "mod.py").write_text(
        "def f():\n    from indexes import set_search_threads\n    return set_search_threads\n"
    )
    assert "indexes" in _imports(planted)


_SETTINGS_MODULES = ("config", "training_settings", "packaged")


@pytest.mark.parametrize("module", _SETTINGS_MODULES)
def test_the_core_settings_import_no_feature_of_rag_fed(module: str) -> None:
    # the settings are split over these modules; together they import nothing of rag_fed but its errors
    imports = _imports(REPO / "rag_fed" / f"{module}.py")
    allowed = {"rag_fed.errors"} | {f"rag_fed.{name}" for name in _SETTINGS_MODULES}
    features = {name for name in imports if name.startswith("rag_fed.") and name not in allowed}
    assert not features, features


_HTTP = ("api", "fastapi", "starlette", "uvicorn", "httpx")


def test_the_coordinator_imports_nothing_of_the_http_layer() -> None:
    # docs/architecture.md: the coordinator's settings, embedder pool, model controls and training runs are
    # rag_fed/coordinator, so the commands that use them (rag_fed/cli) need no web service to be read or run
    imports = _imports(REPO / "rag_fed" / "coordinator")
    assert "rag_fed.settings_loader" in imports, "the scan found the coordinator's settings"
    assert not {name for name in imports if name.split(".")[0] in _HTTP}


def test_api_holds_the_services_and_a_thin_cli() -> None:
    # issue 18 step 4: training, model rollout and the site registry's commands are the coordinator's, read
    # in rag_fed/cli; what is left in api/cli starts or drives the services (demo, gateway init, keys, serve)
    cli = _imports(REPO / "api" / "cli")
    assert "rag_fed.cli.common" in cli, "the scan found the service layer's commands"
    assert not {name for name in cli if name.startswith(("rag_fed.training", "rag_fed.federation.rollout"))}
    for path in (REPO / "api").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        classes = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
        assert not classes & {"GatewaySettings", "EmbedderPool"}, path
    core_commands = {path.stem for path in (REPO / "rag_fed" / "cli").glob("*_commands.py")}
    assert {"federation_commands", "model_commands", "train_commands"} <= core_commands
