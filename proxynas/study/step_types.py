"""The two kinds of study step: condense (or import) a proxy, and train a plan (search, truth, baseline,
transfer). :mod:`proxynas.study.steps` orders them; :mod:`proxynas.study.transfer_steps` makes transfer ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxynas.plans import Plan
from proxynas.study.spec import ProxySpec


@dataclass(frozen=True)
class CondenseStep:
    proxy: ProxySpec
    name: str  # the proxy library's name

    @property
    def label(self) -> str:
        verb = "import" if self.proxy.imported else "condense"
        return f"{verb} {self.name}"


@dataclass(frozen=True)
class TrainStep:
    """Train the study's candidates on one training set: a proxy (search), or the whole set (truth, baseline)."""

    kind: str  # 'search', 'truth', 'baseline' or 'transfer'
    label: str  # how tables call what it ranks: the proxy name, 'truth', 'early_stopping:10'
    plan: Plan
    proxy: str | None = None  # the proxy trained on (search and transfer steps)
    cost_ratio: float | None = None  # transfer: cost of its networks per image over the search candidates'

    @property
    def title(self) -> str:
        return {"search": f"search on {self.label}", "truth": f"ground truth on {self.plan.trainset}",
                "baseline": f"baseline {self.label}",
                "transfer": f"transfer {self.label}: {', '.join(c.id for c in self.plan.candidates)}"}[self.kind]
