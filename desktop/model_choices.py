"""What the Preferences page shows about the models, read on the engine core thread (``service.call``).

Qt-free, like :mod:`desktop.library_queries`: :func:`model_choices` takes the Library and returns plain
rows, one per known model of the roles a user can choose (photos and videos, sounds, speech), with its
size, whether it is installed, its languages, whether it is in use or being switched to, and what a
switch to it would cost on this library (engine.indexing.switches.switch_cost: the measured per-model
speed where the table has it, else an estimate from the parameter count, which the text says).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The roles the page lists, with their headings.
ROLES = (
    ("image-text", "Photos and video moments (and the words you type)"),
    ("audio", "Sounds"),
    ("speech", "Speech"),
)


@dataclass
class ModelChoice:
    model_id: str
    role: str
    title: str
    installed: bool
    test_model: bool
    #: Bytes to download (files with a published size), or None when unknown.
    size: int | None
    params_m: float | None
    languages: list[str] = field(default_factory=list)
    #: "in use", "switching to", or "".
    use: str = ""
    #: What switching to it costs here ("about 40 min for your 12,000 photos"), or "".
    cost: str = ""
    #: Where that figure comes from ("measured …" or "estimate: … scaled by …"), or "".
    cost_source: str = ""
    default: bool = False
    #: Where ``size`` is unknown: bytes estimated from ``params_m`` at the bytes per parameter of the
    #: role's models whose sizes are published (see :func:`estimate_sizes`), or None.
    size_estimate: int | None = None
    #: How that estimate was made ("at 0.77 bytes per parameter, as uform3-…-small's files"), or "".
    size_basis: str = ""


@dataclass
class SwitchInfo:
    role: str
    current: str
    target: str
    done: int
    total: int
    waiting: str | None
    line: str


@dataclass
class Choices:
    models: list[ModelChoice]
    switches: list[SwitchInfo]
    models_dir: str


def _known_bytes(spec: Any) -> int | None:
    """The bytes of the files whose size is published (the weights; small config files often have
    none), or None when none is: a lower bound that is within a few KB of the download."""
    sizes = [f.size for f in spec.files if f.name not in spec.optional and f.size]
    return sum(sizes) if sizes else None


def estimate_sizes(models: list[ModelChoice]) -> None:
    """Fill ``size_estimate`` for the models without a published size but with a parameter count.

    The bytes per parameter come from the same role's models with both (their file format and
    quantisation are the family's: UForm3 small's ONNX files are 0.77 bytes per parameter), so a
    143 M-parameter UForm3 base reads "about 110 MB". Without such a model in the role, no estimate.
    """
    for role in {m.role for m in models}:
        known = [m for m in models if m.role == role and m.size and m.params_m]
        if not known:
            continue
        per_param = sum(m.size or 0 for m in known) / sum((m.params_m or 0) * 1e6 for m in known)
        names = ", ".join(m.model_id for m in known)
        for m in models:
            if m.role == role and not m.size and m.params_m:
                m.size_estimate = round(m.params_m * 1e6 * per_param)
                m.size_basis = (
                    f"estimated from {m.params_m:g} M parameters at {per_param:.2f} bytes per parameter, "
                    f"as {names}"
                )


def model_choices(lib: Any) -> Choices:
    """Every choosable model with its state on this library, and the switches in progress."""
    from engine.indexing import switches
    from engine.models import registry

    s = lib.settings
    in_use = {s.image_text_model: "in use", s.audio_model: "in use", s.speech_model: "in use"}
    for nxt in (s.next_image_text_model, s.next_audio_model):
        if nxt:
            in_use[nxt] = "switching to"
    out = []
    for role, _heading in ROLES:
        for m in registry.for_role(role):
            use = in_use.get(m.id, "")
            cost = source = ""
            if not use and role in switches.ROLES:
                c = switches.switch_cost(lib, m.id)
                cost, source = c.short(), c.source if c.amount else ""
            elif not use and role == "speech":
                cost = "no re-embedding: files transcribed already keep their transcripts"
            out.append(
                ModelChoice(
                    model_id=m.id,
                    role=role,
                    title=m.title,
                    installed=registry.is_installed(s.models_dir, m.id),
                    test_model=registry.is_test_model(s.models_dir, m.id),
                    size=_known_bytes(m),
                    params_m=m.params_m,
                    languages=list(m.languages),
                    use=use,
                    cost=cost,
                    cost_source=source,
                    default=m.default,
                )
            )
    estimate_sizes(out)
    sw = [
        SwitchInfo(st.role, st.current, st.target, st.done + st.failed, st.total, st.waiting, st.describe())
        for st in switches.states(lib)
    ]
    return Choices(out, sw, str(s.models_dir))
