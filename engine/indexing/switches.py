"""Switching a library to another model (``lookalike models use ID``, the app's Preferences).

A switch of the image-text or sound model re-embeds the library in the background, as its own stage
(the analyzers in :mod:`engine.indexing.analyzers.reembed`), into the new model's own collection
(``image_text__<model>``), while search keeps answering from the old model's vectors. When every indexed
file of the role's kinds is done (or failed) with the new model, the switch completes: the settings
name the new model (one atomic save) and the old collection is dropped.

State, and why a kill at any point is harmless:

* the target is the setting ``next_image_text_model`` / ``next_audio_model`` ("" when none);
* per file, the re-embed analyzer's row in ``analyses`` (done / failed): the stage resumes where it
  stopped, and a file changed or removed meanwhile is redone or forgotten like for any analyzer;
* a new sound model's tags wait in ``switch_tags`` (engine.storage.model_switch) until completion;
* collections to drop are queued in the catalog (``Library.drop_collection_later``) and dropped once no
  model of the settings uses them, at the next store open if a kill came first.

Completing is idempotent and ordered so that each prefix leaves a library that answers: (1) one catalog
transaction moves the staged tags, points the files' model column at the new model, sends the files
the new model failed on back to the indexing queue and queues the old collection for dropping; (2) the
settings save flips the model (search now reads the new collection, which covers the library); (3) the
old collection is dropped; (4) the stage's rows are cleared. A kill before (2) redoes (1) on the next
run (the stage is still complete); a kill after (2) leaves only (3) and (4), which the next store open
and the next switch do.

Starting a switch clears the stage's rows and staged tags first, then queues the collection of an
abandoned target for dropping, then saves the setting: a kill in between at worst redoes work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.errors import LookalikeError, ModelMissingError
from engine.media.kinds import Kind
from engine.models import registry
from engine.storage import analyses, model_switch
from engine.storage import catalog as cat

if TYPE_CHECKING:
    from engine.library import Library

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Role:
    """A model role whose switch re-embeds: where its model ids live and which files it embeds."""

    role: str
    #: Settings attributes: the model in use, and the one being switched to.
    active: str
    next: str
    #: The role part of its collections' names (engine.library.collection_name).
    space: str
    #: The re-embed analyzer's name in the catalog (never rename).
    analyzer: str
    kinds: frozenset[str]
    #: Kinds whose catalog ``model`` column names this role's model.
    model_kinds: tuple[str, ...]
    #: What is re-embedded, for people.
    what: str


ROLES: dict[str, Role] = {
    "image-text": Role(
        role="image-text",
        active="image_text_model",
        next="next_image_text_model",
        space="image_text",
        analyzer="reembed_image_text",
        kinds=frozenset({Kind.PHOTO.value, Kind.VIDEO.value}),
        model_kinds=(Kind.PHOTO.value, Kind.VIDEO.value),
        what="photos and video moments",
    ),
    "audio": Role(
        role="audio",
        active="audio_model",
        next="next_audio_model",
        space="audio",
        analyzer="reembed_audio",
        kinds=frozenset({Kind.SOUND.value, Kind.VIDEO.value}),
        model_kinds=(Kind.SOUND.value,),
        what="sounds and soundtracks",
    ),
}
#: The re-embed analyzers' version (their rows are cleared at every switch start, so it never changes).
REEMBED_VERSION = 1


def target(lib: Library, role: str) -> str:
    """The model ``role`` is being switched to, or "" (also for an id this version does not know: a
    settings file edited by hand, or written by a newer Lookalike)."""
    nxt = str(getattr(lib.settings, ROLES[role].next) or "")
    if nxt and nxt not in registry.MODELS:
        log.warning("settings name an unknown model to switch to (%s); ignored", nxt)
        return ""
    return nxt


def collection(role: str, model_id: str) -> str:
    from engine.library import collection_name

    return collection_name(ROLES[role].space, model_id)


@dataclass
class SwitchState:
    """A switch in progress, for the CLI, the service's progress and the app."""

    role: str
    current: str
    target: str
    done: int = 0
    failed: int = 0
    pending: int = 0
    #: Why the stage cannot run now (the new model is missing), or None.
    waiting: str | None = None

    @property
    def total(self) -> int:
        return self.done + self.failed + self.pending

    def describe(self) -> str:
        """One line: "image-text model: uform3-…-small → uform3-…-multilingual-base, 120 / 400 files
        re-embedded (search uses the old model until then)"."""
        line = (
            f"{self.role} model: {self.current} → {self.target}, {self.done + self.failed} / {self.total} "
            f"files re-embedded (search uses {self.current} until then)"
        )
        if self.waiting:
            line += f"; waiting: {self.waiting}"
        return line

    def to_json(self) -> dict:
        return {
            "role": self.role,
            "current": self.current,
            "target": self.target,
            "done": self.done,
            "failed": self.failed,
            "pending": self.pending,
            "total": self.total,
            "waiting": self.waiting,
        }


def state(lib: Library, role: str) -> SwitchState | None:
    """The switch of ``role`` in progress, with its counts; None when none runs. Reads the catalog only."""
    r = ROLES[role]
    nxt = target(lib, role)
    if not nxt:
        return None
    c = analyses.counts(lib.catalog, r.analyzer, REEMBED_VERSION, r.kinds)
    waiting = None
    if not lib.model_ready(nxt):
        waiting = f"model {nxt} is not installed: lookalike models download {nxt}"
    return SwitchState(
        role, str(getattr(lib.settings, r.active)), nxt, c[analyses.DONE], c[analyses.FAILED],
        c[analyses.PENDING], waiting,
    )  # fmt: skip


def states(lib: Library) -> list[SwitchState]:
    return [s for role in ROLES if (s := state(lib, role)) is not None]


@dataclass
class UseResult:
    """What ``use_model`` did: ``message`` for people; ``switch`` the switch now running, if any."""

    model_id: str
    role: str
    message: str
    switch: SwitchState | None = None
    completed: bool = False
    extra: dict = field(default_factory=dict)


def _clear_stage(lib: Library, r: Role) -> None:
    """Forget the stage's per-file rows and staged tags (one transaction)."""
    with lib.catalog.transaction():
        lib.catalog.execute("DELETE FROM analyses WHERE analyzer=?", (r.analyzer,))
        if r.role == "audio":
            model_switch.forget_tags(lib.catalog)


def use_model(lib: Library, model_id: str) -> UseResult:
    """Make ``model_id`` the library's model for its role.

    Image-text and sound models: starts a switch (re-embedding in the background; nothing changes for
    search until it completes), or completes it at once when nothing needs re-embedding (an empty
    library); choosing the model in use cancels a switch in progress; choosing another target abandons
    the first. Speech: the setting changes (files transcribed before keep their transcripts). The library
    must be open exclusively (the store is touched).

    Raises:
        ModelMissingError: unknown id, or the model is not installed (the message says how to get it).
        LookalikeError: a role without a choice (the text model).
    """
    spec = registry.spec(model_id)
    s = lib.settings
    if not lib.model_ready(model_id):
        raise ModelMissingError(
            f"Model {model_id} ({spec.title}) is not installed. Run `lookalike models download {model_id}` "
            f"(needs network once) or `lookalike models install --from DIR`, then `lookalike models use "
            f"{model_id}` again."
        )
    if spec.role == "speech":
        if s.speech_model == model_id:
            return UseResult(model_id, spec.role, f"{model_id} is already the speech model.")
        old = s.speech_model
        s.speech_model = model_id
        s.save()
        return UseResult(
            model_id, spec.role,
            f"Speech model: {old} → {model_id}. Files transcribed already keep their transcripts; new "
            "speech is transcribed with it.",
        )  # fmt: skip
    if spec.role not in ROLES:
        if getattr(s, "text_model", None) == model_id:
            return UseResult(model_id, spec.role, f"{model_id} is already the {spec.role} model.")
        raise LookalikeError(f"The {spec.role} model cannot be changed in this version ({model_id}).")
    r = ROLES[spec.role]
    current = str(getattr(s, r.active))
    nxt = target(lib, spec.role)
    if model_id == current:
        if not nxt:
            return UseResult(model_id, r.role, f"{model_id} is already the {r.role} model.")
        _abandon(lib, r, nxt)
        return UseResult(
            model_id,
            r.role,
            f"Switch to {nxt} cancelled: the library stays with {model_id} (nothing changed).",
        )
    if model_id == nxt:
        st = state(lib, r.role)
        return UseResult(model_id, r.role, f"Already switching: {st.describe() if st else model_id}", st)
    _clear_stage(lib, r)
    with lib.catalog.transaction():
        lib.catalog.set_meta(f"switch_target:{r.role}", model_id)
        if nxt:
            lib.drop_collection_later(collection(r.role, nxt))
        # A collection of this model left from an earlier switch that was abandoned could hold stale
        # vectors of files changed since: drop it before filling it again.
        lib.drop_collection_later(collection(r.role, model_id))
    lib.drop_unused_collections()
    setattr(s, r.next, model_id)
    s.save()
    lib.drop_unused_collections()
    if complete_if_covered(lib, r.role):
        return UseResult(
            model_id, r.role, f"{r.role.capitalize()} model: {current} → {model_id} (nothing to re-embed).",
            completed=True,
        )  # fmt: skip
    st = state(lib, r.role)
    return UseResult(
        model_id, r.role,
        f"Switching the {r.role} model: {current} → {model_id}. {st.pending if st else 0} files will be "
        f"re-embedded in the background (`lookalike index`, or the app, does it); search uses {current} "
        "until they are all done.",
        st,
    )  # fmt: skip


def _abandon(lib: Library, r: Role, nxt: str) -> None:
    """Cancel the switch to ``nxt``: its rows and staged tags go, the setting is cleared, its partial
    collection is dropped."""
    _clear_stage(lib, r)
    lib.drop_collection_later(collection(r.role, nxt))
    setattr(lib.settings, r.next, "")
    lib.settings.save()
    lib.drop_unused_collections()


def ensure_fresh(lib: Library, role: str) -> None:
    """If the target in the settings is not the one the stage's rows were made for (the settings file
    edited by hand), start the stage over: those rows describe another model's vectors."""
    r = ROLES[role]
    nxt = target(lib, role)
    key = f"switch_target:{r.role}"
    if nxt and lib.catalog.get_meta(key) != nxt:
        _clear_stage(lib, r)
        lib.catalog.set_meta(key, nxt)


def pending_files(lib: Library, role: str, limit: int | None = None) -> list[cat.FileRow]:
    r = ROLES[role]
    return analyses.pending_rows(lib.catalog, r.analyzer, REEMBED_VERSION, r.kinds, limit=limit)


def complete_if_covered(lib: Library, role: str) -> bool:
    """Complete the switch of ``role`` if the new model covers every indexed file of its kinds (done or
    failed); True when it completed. See the module docstring for the order. Raises StoreError (the
    switch then stays in progress and completes on a later call)."""
    r = ROLES[role]
    s = lib.settings
    nxt = target(lib, role)
    if not nxt or pending_files(lib, role, limit=1) or not lib.model_ready(nxt):
        return False
    old = str(getattr(s, r.active))
    marks = ",".join("?" * len(r.model_kinds))
    with lib.catalog.transaction():
        if role == "audio":
            model_switch.move_tags(lib.catalog, nxt)
        lib.catalog.execute(
            f"UPDATE files SET model=? WHERE model=? AND kind IN ({marks})", (nxt, old, *r.model_kinds)
        )
        # What the new model could not read goes back to the indexing queue under the new model (it
        # is then failed with its reason there, or indexed if it was passing trouble).
        lib.catalog.execute(
            "UPDATE files SET state=? WHERE state=? AND id IN "
            "(SELECT file_id FROM analyses WHERE analyzer=? AND state=?)",
            (cat.PENDING, cat.INDEXED, r.analyzer, analyses.FAILED),
        )
        lib.drop_collection_later(collection(role, old))
    setattr(s, r.active, nxt)
    setattr(s, r.next, "")
    s.save()
    log.info("%s model switched: %s -> %s", role, old, nxt)
    lib.unload_models()
    gone = collection(role, old)
    for key in [k for k in lib.memo if gone in k]:  # the search's samples of the old collection
        lib.memo.pop(key, None)
    lib.drop_unused_collections()
    _clear_stage(lib, r)
    return True


# -- what a switch costs -------------------------------------------------------------------------------

#: Measured through the library with random weights of the real shapes (docs/benchmarks.md, stop 9:
#: 2 shared cores): photos per second for UForm3 small (13.4-14.8), hours of audio per hour for PANNs
#: MobileNetV1 (277-307) and Cnn14 (25). Used where the per-model table (engine.models.costs) lacks one.
_BASE_RATES = {"uform3-image-text-english-small": 14.0, "panns-mobilenetv1": 290.0, "panns-cnn14": 25.0}


#: The image towers' parameters in millions: the standard ViT-S/16, ViT-B/16 and ViT-L/14 sizes of the
#: towers unum-cloud/uform's README names for each model. Indexing runs only this tower.
_IMAGE_TOWER_PARAMS_M = {
    "uform3-image-text-english-small": 22,
    "uform3-image-text-english-base": 86,
    "uform3-image-text-english-large": 304,
    "uform3-image-text-multilingual-base": 86,
}


@dataclass
class SwitchCost:
    """What re-embedding the library with a model costs: ``seconds`` at ``rate`` (``unit``), for
    ``amount`` (photos and video moments, or hours of audio); ``source`` says where the rate comes from
    ("measured on this project's benchmark machine …" or "estimate from the parameter count …")."""

    model_id: str
    amount: float
    unit: str
    rate: float
    seconds: float
    source: str
    photos: int = 0
    videos: int = 0
    sounds: int = 0

    def describe(self) -> str:
        """"about 40 min for your 12,000 photos (estimate: …)": :meth:`short` and where the rate comes
        from."""
        short = self.short()
        return short if not self.amount else f"{short} ({self.source})"

    def short(self) -> str:
        """"about 40 min for your 12,000 photos", "under a minute for your 3 sounds" or "nothing to
        re-embed yet"."""
        from engine.core.durations import rough_duration

        what = []
        if self.photos:
            what.append(f"{self.photos:,} photo{'s' if self.photos != 1 else ''}")
        if self.videos:
            what.append(f"{self.videos:,} video{'s' if self.videos != 1 else ''}")
        if self.sounds:
            what.append(f"{self.sounds:,} sound{'s' if self.sounds != 1 else ''}")
        if not what:
            return "nothing to re-embed yet"
        minutes = self.seconds / 60
        took = "under a minute" if minutes < 1 else f"about {rough_duration(self.seconds)}"
        return f"{took} for your {' and '.join(what)}"


def _measured_rate(model_id: str) -> tuple[float, str] | None:
    """The per-model speed table (engine/data/model_costs.toml, written by bench/bench_models.py),
    when it has this model."""
    from engine.models.costs import load_costs

    try:
        cost = load_costs().get(model_id)
    except Exception as exc:  # a damaged table: fall back to the estimate
        log.warning("model cost table unreadable: %s", exc)
        return None
    if cost is None or not cost.files_per_s:
        return None
    # shape: "real", or "real (the image tower of <the model it shares it with>)"
    if cost.shape.startswith("real"):
        what = "random weights of the real shape" + cost.shape.removeprefix("real")
    else:
        what = f"random weights: {cost.shape}"
    return float(cost.files_per_s), f"measured {cost.measured} at load {cost.load}, {what}"


def estimated_rate(model_id: str) -> tuple[float, str]:
    """(rate, where it comes from) for ``model_id``: photos/s for image-text models, hours of audio per
    hour for sound models. From the measured table when it has the model, else the default model's
    measured rate scaled by the parameter counts (clearly an estimate)."""
    measured = _measured_rate(model_id)
    if measured is not None:
        return measured
    if model_id in _BASE_RATES:
        return _BASE_RATES[model_id], "measured through the library on the project's 2-core benchmark machine"
    spec = registry.spec(model_id)
    base_id = registry.for_role(spec.role)[0].id
    base = _measured_rate(base_id) if base_id != model_id else None
    base_rate = base[0] if base is not None else _BASE_RATES.get(base_id, 10.0)
    # Indexing runs the image tower alone: scale by its parameters where known, else the model's.
    base_params = _IMAGE_TOWER_PARAMS_M.get(base_id) or registry.spec(base_id).params_m or 1.0
    params = _IMAGE_TOWER_PARAMS_M.get(model_id) or spec.params_m or base_params
    what = "image-tower parameters" if model_id in _IMAGE_TOWER_PARAMS_M else "parameters"
    return base_rate * base_params / params, (
        f"estimate: {base_id}'s measured speed scaled by {what}, {params:g} M against {base_params:g} M"
    )


def switch_cost(lib: Library, model_id: str) -> SwitchCost:
    """What re-embedding this library with ``model_id`` would cost (reads the catalog only)."""
    from engine.core.vectors import VIDEO_INTERVAL_S

    spec = registry.spec(model_id)
    r = ROLES.get(spec.role)
    if r is None:
        return SwitchCost(model_id, 0, "", 0, 0, "no re-embedding: transcripts made already stay")
    rate, source = estimated_rate(model_id)
    marks = ",".join("?" * len(r.kinds))
    rows = lib.catalog.query(
        f"SELECT kind, COUNT(*), COALESCE(SUM(duration), 0) FROM files WHERE state=? AND kind IN ({marks}) "
        "GROUP BY kind",
        (cat.INDEXED, *sorted(r.kinds)),
    )
    by_kind = {k: (int(n), float(d)) for k, n, d in rows}
    photos, _ = by_kind.get(Kind.PHOTO.value, (0, 0.0))
    videos, video_s = by_kind.get(Kind.VIDEO.value, (0, 0.0))
    sounds, sound_s = by_kind.get(Kind.SOUND.value, (0, 0.0))
    if r.role == "image-text":
        from engine.indexing.media_pipelines import VIDEO_MAX_MOMENTS

        moments = min(video_s / VIDEO_INTERVAL_S, videos * VIDEO_MAX_MOMENTS) if videos else 0.0
        amount = photos + moments
        return SwitchCost(model_id, amount, "photos/s", rate, amount / rate, source, photos, videos, 0)
    hours = (sound_s + video_s) / 3600
    return SwitchCost(model_id, hours, "audio h/h", rate, hours / rate * 3600, source, 0, videos, sounds)
