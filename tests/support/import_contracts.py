"""An import-linter contract type the built-in ones lack: a package that imports only the stdlib.

`forbidden` needs every third-party package named in advance, so a dependency added tomorrow would
slip past it; this contract instead allows only `sys.stdlib_module_names` and the package itself.
Registered in pyproject.toml (`[tool.importlinter] contract_types`), run by `make lint`.
"""

from __future__ import annotations

import sys

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


class StdlibOnlyContract(Contract):
    """Modules under `packages` import nothing but the standard library and those packages."""

    type_name = "stdlib_only"

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        own = [str(package) for package in self.packages]  # type: ignore[attr-defined]
        violations: list[tuple[str, str, list[int]]] = []
        for package in own:
            for importer in sorted({package} | graph.find_descendants(package)):
                for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                    if _allowed(imported, own):
                        continue
                    lines = [
                        detail["line_number"]
                        for detail in graph.get_import_details(importer=importer, imported=imported)
                    ]
                    violations.append((importer, imported, lines))
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, imported, lines in check.metadata["violations"]:
            where = ", ".join(f"l.{line}" for line in lines)
            output.print_error(f"{importer} imports {imported} ({where})", bold=False)
        output.new_line()


def _allowed(imported: str, own: list[str]) -> bool:
    top = imported.split(".")[0]
    return top in sys.stdlib_module_names or any(
        imported == package or imported.startswith(package + ".") for package in own
    )
