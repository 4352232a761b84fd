"""The import rule of docs/ARCHITECTURE.md: each layer imports only the layers below it (import-linter,
with the contracts of pyproject.toml's [tool.importlinter]), and no module imports one of Loa's
inside a function, where a circle could hide, except the few of ALLOWED_INSIDE_FUNCTIONS; the
services are reached through handlers/context.py and web/context.py only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from importlinter.api import read_configuration  # (importing it configures import-linter)
from importlinter.application.output import console
from importlinter.application.use_cases import _register_built_in_contract_types, create_report
from importlinter.application.user_options import UserOptions

from handlers import context as handlers_context
from web import context as web_context

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cli", "sandbox", "bot", "handlers", "web", "complaints", "broadcasts", "storage", "kernel", "emulator")

# Imports of Loa's modules inside a function that stay, each with its reason ("importer -> imported").
ALLOWED_INSIDE_FUNCTIONS = {
    "cli.main -> bot.runner": "start-up: only `loa run` needs the bot; the rest of the commands start 2 s sooner",
    "cli.main -> web.webhook": "start-up: as bot.runner",
    "cli.main -> sandbox.run": "start-up: as bot.runner",
}

# TEMPORARY: imports that break the rule in files other branches of issue 17 are rewriting right now.
# Each must go (the test says so when one no longer happens); delete its line then, and this list
# once it is empty.
TEMPORARY_EXCEPTIONS = [
    "web.dashboard.bans -> handlers.staff_cards",  # web imports handlers: carry_out(request, Effects(cards=True))
    "web.dashboard.report -> handlers.staff_cards",  # the same
    "web.open311 -> handlers.staff_cards",  # the same
    "web.api -> kernel.i18n",  # inside a function for no reason: move it to the top
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool) -> list[str]:
    """The modules an import statement names: `from handlers import staff_cards` names
    handlers.staff_cards, `from bot.runner import serving` names bot.runner."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = importer.split(".")[: len(importer.split(".")) - node.level + (1 if is_package else 0)]
        base = ".".join([*package, *([node.module] if node.module else [])])
    found = []
    for alias in node.names:
        found.append(f"{base}.{alias.name}" if is_module(f"{base}.{alias.name}") else base)
    return found


def imports_inside_functions() -> dict[str, list[str]]:
    """"importer -> imported" -> where ("path:line"), for every import of a Loa module that sits
    inside a function of Loa's packages."""
    found: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            importer = module_name(path)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for function in ast.walk(tree):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(function):
                    if not isinstance(node, ast.Import | ast.ImportFrom):
                        continue
                    for imported in imported_modules(node, importer, path.name == "__init__.py"):
                        if imported.split(".")[0] in PACKAGES:
                            where = f"{path.relative_to(ROOT)}:{node.lineno}"
                            found.setdefault(f"{importer} -> {imported}", [])
                            if where not in found[f"{importer} -> {imported}"]:
                                found[f"{importer} -> {imported}"].append(where)
    return found


def test_no_import_of_loa_inside_a_function():
    found = imports_inside_functions()
    wrong = {key: where for key, where in found.items()
             if key not in ALLOWED_INSIDE_FUNCTIONS and key not in TEMPORARY_EXCEPTIONS}
    assert not wrong, (
        "Loa's modules are imported at the top of a module, not inside a function (a circle hides there; "
        "docs/ARCHITECTURE.md):\n" + "\n".join(f"  {key}  at {', '.join(where)}" for key, where in sorted(wrong.items())))
    gone = [key for key in TEMPORARY_EXCEPTIONS if key not in found]
    assert not gone, ("These imports no longer happen: delete them from TEMPORARY_EXCEPTIONS in "
                      "tests/test_layers.py:\n" + "\n".join(f"  {key}" for key in gone))
    unused = [key for key in ALLOWED_INSIDE_FUNCTIONS if key not in found]
    assert not unused, "No longer inside a function, delete from ALLOWED_INSIDE_FUNCTIONS: " + ", ".join(unused)


def test_imports_keep_to_the_layers():
    options = UserOptions(**read_configuration(str(ROOT / "pyproject.toml")))
    for contract in options.contracts_options:
        if contract.get("id") == "layers":
            contract["ignore_imports"] = [*contract.get("ignore_imports", []), *TEMPORARY_EXCEPTIONS]
            contract["unmatched_ignore_imports_alerting"] = "none"  # the test above tells stale ones
    _register_built_in_contract_types()  # as import-linter's own lint_imports does first
    report = create_report(options, cache_dir=None)
    with console.capture() as captured:
        for contract, check in report.get_contracts_and_checks():
            if not check.kept:
                console.print(f"{contract.name}:")
                contract.render_broken_contract(check)
    assert not report.contains_failures, (
        "An import breaks the layers of docs/ARCHITECTURE.md (pyproject.toml's [tool.importlinter]):\n"
        + captured.get())


SERVICE_BY_NAME = re.compile(r"""bot_data\s*(\[|\.get\(|\.setdefault\(|\.pop\()\s*["'](sender|db|settings|policy|effects|clock)["']""")


def test_services_are_reached_typed():
    """Only handlers/context.py (LoaContext, services(application)) and web/context.py know where the
    root put the services; everyone else asks them."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.relative_to(ROOT).as_posix() in ("handlers/context.py", "web/context.py"):
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if SERVICE_BY_NAME.search(line):
                    found.append(f"  {path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, ("A service is read from bot_data by its name; use handlers.context (LoaContext, "
                       "services(application)) or web.context instead:\n" + "\n".join(found))


def test_the_web_finds_the_services_where_the_root_put_them():
    """web/context.py cannot import handlers/context.py (siblings): the bot_data keys agree."""
    assert (web_context._SENDER, web_context._EFFECTS, web_context._POLICY_OF, web_context._CLOCK) == (
        handlers_context.SENDER, handlers_context.EFFECTS, handlers_context.POLICY, handlers_context.CLOCK)
