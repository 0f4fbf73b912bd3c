"""What each model costs to index with on the machine it was measured on: ``engine/data/model_costs.toml``.

``bench/bench_models.py`` writes the table: for every registry model, random weights of its real shape
in its real file format, run through the real loader. The app reads it to say what switching models
costs ("about 40 min for your 12,000 photos", engine.indexing.switches). Rates are from one machine
under one load (both recorded): they scale with the cores a user has, but the ratios between models
hold, which is what choosing between them needs.

Units: ``photos/s`` for image-text models (through the library: decode, preprocess, encode, store),
``audio h/h`` (hours of audio per hour) for sound and speech models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tomllib

COSTS_FILE = Path(__file__).resolve().parents[1] / "data" / "model_costs.toml"


@dataclass(frozen=True)
class ModelCost:
    model_id: str
    #: Through the library, in ``unit``.
    rate: float
    #: "photos/s" or "audio h/h".
    unit: str
    #: The model alone on ready inputs (no decode, no store), in ``unit``: what the rate cannot exceed.
    ceiling: float | None = None
    #: The date it was measured, and the 1-minute load averages during the measurement (from ``uptime``).
    measured: str = ""
    load: str = ""
    cores: int | None = None
    #: "real": random weights of the real model's shape; anything else says what was measured instead.
    shape: str = "real"
    note: str = ""
    #: The rate as a multiple of its role's default model's, measured right after it (the cores were
    #: shared: a ratio measured seconds apart holds where absolute rates swing); 1.0 for the default.
    relative: float | None = None

    @property
    def files_per_s(self) -> float:
        """The rate (photos/s, or hours of audio per hour for sound models), under the name the switch
        estimate reads."""
        return self.rate


def load_costs(path: Path = COSTS_FILE) -> dict[str, ModelCost]:
    """The measured table, ``{model_id: ModelCost}``; ``{}`` when it is missing. Raises ValueError when the
    file exists but is not a readable table (callers fall back to an estimate)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    out = {}
    for model_id, row in (raw.get("models") or {}).items():
        try:
            out[model_id] = ModelCost(
                model_id=model_id,
                rate=float(row["rate"]),
                unit=str(row["unit"]),
                ceiling=float(row["ceiling"]) if row.get("ceiling") is not None else None,
                measured=str(row.get("measured", "")),
                load=str(row.get("load", "")),
                cores=int(row["cores"]) if row.get("cores") is not None else None,
                shape=str(row.get("shape", "real")),
                note=str(row.get("note", "")),
                relative=float(row["relative"]) if row.get("relative") is not None else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path.name}: model {model_id}: {exc}") from exc
    return out


def dumps(costs: dict[str, ModelCost], header: str = "") -> str:
    """The table as TOML in the layout :func:`load_costs` reads."""
    import json

    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for model_id in sorted(costs):
        c = costs[model_id]
        lines += [
            "",
            f"[models.{json.dumps(model_id)}]",
            f"rate = {c.rate:.4g}",
            f"unit = {json.dumps(c.unit)}",
        ]
        if c.ceiling is not None:
            lines.append(f"ceiling = {c.ceiling:.4g}")
        if c.relative is not None:
            lines.append(f"relative = {c.relative:.4g}")
        for key in ("measured", "load", "shape", "note"):
            value = getattr(c, key)
            if value:
                lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
        if c.cores is not None:
            lines.append(f"cores = {c.cores}")
    text = "\n".join(lines).lstrip("\n") + "\n"
    tomllib.loads(text)  # never write what load_costs could not read
    return text
