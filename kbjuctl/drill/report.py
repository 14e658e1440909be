"""A drill's result: its checks (the verdict), its figures, and the one line that says both."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kbjuctl.loadtest.report import Check


@dataclass
class DrillReport:
    drill: str
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    headline: str = ""          # the figures that matter most, for the verdict line

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks if c.gating)

    def check(self, name: str, ok: bool, detail: str, gating: bool = True) -> None:
        self.checks.append(Check(name, bool(ok), detail, gating))

    @property
    def verdict(self) -> str:
        failed = [c.name for c in self.checks if c.gating and not c.ok]
        state = "PASSED" if not failed else f"FAILED ({'; '.join(failed)})"
        return f"{self.drill}: {state}" + (f" - {self.headline}" if self.headline else "")

    def as_dict(self) -> dict[str, Any]:
        return {"drill": self.drill, "passed": self.passed, "verdict": self.verdict,
                "checks": [asdict(c) for c in self.checks], "figures": self.figures}

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_dict(), ensure_ascii=False, indent=2, default=str) + "\n")
