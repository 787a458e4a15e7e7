"""The layout, read as imports: every concept in its room, no circles, and a
product that needs nothing the tests install."""

import ast
from pathlib import Path

import pytest

from tests.support.processes import PROJECT_DIR, project_env, run_python

APPS = ("api", "accounts", "todos", "calendars", "queuedemo")
PROJECT_PACKAGE = "taskoverflow"
# What requirements-dev.txt adds to requirements.txt: the product imports none.
DEV_ONLY = (
    "pytest",
    "pytest_django",
    "requests",
    "ruff",
    "schemathesis",
    "moto",
    "ical",
    "vobject",
    "playwright",
    "hcl2",
    "tests",
)


def product_modules() -> dict[str, Path]:
    """Every module of the product: the apps and the project package, less
    their tests and migrations."""
    modules = {}
    for package in (*APPS, PROJECT_PACKAGE):
        for path in sorted((PROJECT_DIR / package).rglob("*.py")):
            parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
            if "tests" in parts or "migrations" in parts:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imports_of(path: Path, module: str) -> set[str]:
    """The modules `path` imports, anywhere in it (function bodies included)."""
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}".rstrip(".")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    """Each product module and the product modules it imports."""
    modules = product_modules()
    return {
        module: {name for name in imports_of(path, module) if name in modules}
        - {module}
        for module, path in modules.items()
    }


def top(module: str) -> str:
    return module.split(".")[0]


def test_no_module_imports_one_that_imports_it_back(graph):
    circles = []

    def visit(module: str, trail: list[str]) -> None:
        for imported in graph[module]:
            if imported in trail:
                circles.append(trail[trail.index(imported) :] + [imported])
            elif imported not in done:
                visit(imported, [*trail, imported])
        done.add(module)

    done: set[str] = set()
    for module in graph:
        visit(module, [module])
    assert not circles, circles


def test_no_app_imports_another_apps_views(graph):
    crossings = [
        (module, imported)
        for module, imported_modules in graph.items()
        for imported in imported_modules
        if imported.endswith(".views") and top(imported) != top(module)
    ]
    assert not crossings


def test_the_project_package_imports_no_app(graph):
    reaching = {
        module: sorted(name for name in imported if top(name) in APPS)
        for module, imported in graph.items()
        if top(module) == PROJECT_PACKAGE
    }
    assert not any(reaching.values()), reaching


def test_the_project_package_holds_settings_urls_celery_and_entry_points_only():
    """And the deployment's entry scripts: the image runs them around the WSGI
    and Celery entry points, before any app is loaded."""
    entry_points = {"__init__.py", "settings.py", "urls.py", "celery.py"}
    # gunicorn_worker.py: the worker class gunicorn_conf.py names.
    entry_points |= {"wsgi.py", "asgi.py", "gunicorn_conf.py", "gunicorn_worker.py"}
    # postgresql/: the database engine settings.py names for postgres:// URLs.
    entry_points.add("postgresql")
    deployment_scripts = {"entrypoint.sh", "prestart.py", "healthcheck.py", "aws.py"}
    deployment_scripts.add("worker_alive.py")  # the worker's health check
    files = {
        path.name
        for path in (PROJECT_DIR / PROJECT_PACKAGE).iterdir()
        if path.name != "__pycache__"
    }
    assert files <= entry_points | deployment_scripts, files - entry_points


def test_every_product_module_loads_with_the_runtime_requirements_alone():
    """No product module imports a package that only requirements-dev.txt
    installs: each is imported with those packages made unimportable."""
    blocker = f"""
import importlib.abc, sys
class DevOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {DEV_ONLY!r}:
            raise ImportError(f"{{name}} is a dev-only package")
sys.meta_path.insert(0, DevOnly())
import django
django.setup()
import importlib
for module in {sorted(product_modules())!r}:
    importlib.import_module(module)
print("loaded", len({sorted(product_modules())!r}))
"""
    env = project_env(DJANGO_SETTINGS_MODULE="taskoverflow.settings")
    result = run_python(["-c", blocker], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("loaded")


def test_the_harness_is_not_in_the_product():
    assert not any(
        "pytest" in imports_of(path, module) or top(module) == "tests"
        for module, path in product_modules().items()
    )
