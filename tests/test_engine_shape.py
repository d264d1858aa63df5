"""The engine reads in one sitting: no module over 400 lines, no function over 50, and one write path (issue 13).

Read from the source (nothing is imported); a failure lists every offender.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import bulkupload

ENGINE = Path(bulkupload.__file__).parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50

#: Offenders already on main, each with whose work undoes it; the test fails when one is gone too (drop it here).
KNOWN_OFFENDERS: set[str] = set()


def engine_files(root: Path = ENGINE) -> list[Path]:
    """Every Python file of the engine but its migrations (generated)."""
    return sorted(path for path in root.rglob("*.py") if "migrations" not in path.relative_to(root).parts)


def offenders(root: Path = ENGINE) -> dict[str, int]:
    """``path`` (a module over the limit) or ``path:function`` (a function over it) → its length in lines."""
    found = {}
    for path in engine_files(root):
        source = path.read_text(encoding="utf-8")
        name = path.relative_to(root.parent).as_posix()
        if (lines := len(source.splitlines())) > MAX_MODULE_LINES:
            found[name] = lines
        for node in ast.walk(ast.parse(source, filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found[f"{name}:{node.name}"] = length
    return found


def test_no_engine_module_or_function_is_over_its_size():
    found = offenders()
    new = {name: lines for name, lines in found.items() if name not in KNOWN_OFFENDERS}
    assert not new, "Over the size limits (module 400 lines, function 50): " + ", ".join(f"{n} ({lines})" for n, lines in new.items())
    assert set(found) >= KNOWN_OFFENDERS, f"No longer over the limits, drop from KNOWN_OFFENDERS: {KNOWN_OFFENDERS - set(found)}"


def test_the_check_finds_a_long_module_and_a_long_function(tmp_path):
    package = tmp_path / "engine"
    package.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (package / "long.py").write_text(f"def long():\n{body}\n" + "\n" * MAX_MODULE_LINES, encoding="utf-8")
    (package / "short.py").write_text("def short():\n    return 1\n", encoding="utf-8")

    assert offenders(package) == {
        "engine/long.py": MAX_FUNCTION_LINES + 1 + MAX_MODULE_LINES,
        "engine/long.py:long": MAX_FUNCTION_LINES + 1,
    }


#: A write to uploads or remembered choices: a queryset's update/delete/create on their models, or an instance's save/delete.
WRITE = re.compile(
    r"(UploadBatch|UploadRow|RememberedMapping|RememberedValues)\.objects\b.*\.(update|delete|create|update_or_create|bulk_update|bulk_create)\("
    r"|\b(batch|locked|row)\.(save|delete)\("
    r"|\.rows\.[\w().=, \[\]]*\.(update|delete)\("
)
#: Modules outside ``services/`` that still write, with whose work moves them (the test fails when one stops: drop it here).
KNOWN_WRITERS: set[str] = set()


def writers(root: Path = ENGINE) -> dict[str, list[int]]:
    """Module outside ``services/`` → the lines where it writes uploads, rows or remembered choices."""
    found: dict[str, list[int]] = {}
    for path in engine_files(root):
        if "services" in path.relative_to(root).parts:
            continue
        lines = [number for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if WRITE.search(line)]
        if lines:
            found[path.relative_to(root.parent).as_posix()] = lines
    return found


def test_only_the_services_write_uploads():
    found = writers()
    new = {name: lines for name, lines in found.items() if name not in KNOWN_WRITERS}
    assert not new, f"Writes outside bulkupload/services/ (module: lines): {new}"
    assert set(found) >= KNOWN_WRITERS, f"No longer writing, drop from KNOWN_WRITERS: {KNOWN_WRITERS - set(found)}"


def test_the_write_check_finds_a_write_outside_the_services(tmp_path):
    package = tmp_path / "engine"
    (package / "services").mkdir(parents=True)
    (package / "services" / "staging.py").write_text("UploadBatch.objects.filter(pk=1).update(status='ready')\n", encoding="utf-8")
    (package / "background.py").write_text("x = 1\nUploadBatch.objects.filter(pk=1).update(status='ready')\n", encoding="utf-8")

    assert writers(package) == {"engine/background.py": [2]}
