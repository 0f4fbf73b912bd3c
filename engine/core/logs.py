"""Where messages go: Lookalike's own on the terminal, the libraries' in the log file.

Third-party libraries talk on stderr during an ordinary ``index`` or ``search``: ONNX Runtime's
quantizer logs "Please consider to run pre-processing before quantization" on the root logger,
transformers draws a "Loading weights" progress bar, and faiss (inside Milvus Lite) prints "WARNING
clustering N points to M centroids" from C++ straight to file descriptor 2, and ONNX Runtime's C++
logger its own warnings there too. None of it is for the
user. :func:`setup_logging` sends every library's logging and Python's warnings to
``<data folder>/lookalike.log`` (private to the user, rotated at 1 MB) and keeps on the terminal only
the warnings of ``engine.*``/``desktop.*`` (as before, one bare line each); ``verbose`` puts
everything back on the terminal too. :func:`quiet_faiss_training` catches faiss' C-level print.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import logging.handlers
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LOG_FILE = "lookalike.log"
OWN_LOGGERS = ("engine", "desktop", "lookalike", "__main__")
#: Lines the native libraries print on fd 2 that are noise for a user (kept in the log file).
NATIVE_NOISE = re.compile(r"^WARNING clustering \d+ points to \d+ centroids")

log = logging.getLogger(__name__)
_verbose = False
_configured_handlers: list[logging.Handler] = []


class _Stderr(logging.StreamHandler):
    """A handler on whatever ``sys.stderr`` is when a record comes (a test harness swaps it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class _OwnOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".")[0] in OWN_LOGGERS


class _OwnInfoOthersWarnings(logging.Filter):
    """The log file: our INFO and up, the libraries' WARNING and up (ONNX Runtime's quantizer logs
    a line per tensor at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.split(".")[0] in OWN_LOGGERS


def _private_file(path: Path) -> None:
    """Create the log file readable by its user only (it names the user's files)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)


def setup_logging(home: Path | None, *, verbose: bool = False) -> Path | None:
    """Route logging and warnings: all to ``home/lookalike.log``, our own warnings (everything with
    ``verbose``) to stderr. Returns the log file's path (None when it cannot be written: then the
    libraries' messages are dropped rather than shown). Safe to call again (it replaces its handlers).
    """
    global _verbose
    _verbose = verbose
    root = logging.getLogger()
    for h in _configured_handlers:
        root.removeHandler(h)
        h.close()
    _configured_handlers.clear()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)

    term = _Stderr()
    term.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s"))
    term.setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        term.addFilter(_OwnOnly())
    handlers: list[logging.Handler] = [term]

    path: Path | None = None
    if home is not None:
        path = Path(home) / LOG_FILE
        try:
            _private_file(path)
            file = logging.handlers.RotatingFileHandler(
                path, maxBytes=1_000_000, backupCount=2, encoding="utf-8"
            )
            file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            file.setLevel(logging.DEBUG if verbose else logging.INFO)
            if not verbose:
                file.addFilter(_OwnInfoOthersWarnings())
            handlers.append(file)
        except OSError:
            path = None
    for h in handlers:
        root.addHandler(h)
        _configured_handlers.append(h)
    logging.captureWarnings(True)  # warnings.warn -> logger "py.warnings" -> the file (stderr with -v)
    if not verbose:
        after_import("onnxruntime", _quiet_onnxruntime)
        # transformers reads this when it is imported (every model import is lazy, so this is early).
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    return path


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``hook(module)`` once, right after ``name`` is first imported (heavy libraries are imported
    lazily, long after logging is set up, and some can only be quietened once loaded)."""

    def __init__(self, name: str, hook: Any) -> None:
        self.name, self.hook = name, hook

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)  # one shot; and find_spec below must not find us again
        spec = importlib.util.find_spec(fullname)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module, hook = loader.exec_module, self.hook

        def exec_and_hook(module: Any) -> None:
            exec_module(module)
            with contextlib.suppress(Exception):  # quietening must never break the import
                hook(module)

        loader.exec_module = exec_and_hook
        return spec


def after_import(name: str, hook: Any) -> None:
    """Call ``hook(module)`` when ``name`` is imported (now, if it already is)."""
    if name in sys.modules:
        with contextlib.suppress(Exception):
            hook(sys.modules[name])
        return
    if not any(isinstance(f, _AfterImport) and f.name == name for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(name, hook))


def _quiet_onnxruntime(ort: Any) -> None:
    # 3 = ERROR: its C++ warnings ("Removing initializer ... not used by any node", with colour codes)
    # are printed straight to stderr, past Python's logging.
    ort.set_default_logger_severity(3)


_fd_lock = threading.Lock()


@contextlib.contextmanager
def native_stderr_to_log(logger: logging.Logger = log) -> Iterator[None]:
    """Capture what native code writes on file descriptor 2 during the block; noise lines
    (:data:`NATIVE_NOISE`) go to ``logger``, everything else is written back to stderr afterwards.

    Other threads' stderr output in the meantime is delayed, not lost. With ``verbose`` logging this
    does nothing.
    """
    if _verbose:
        yield
        return
    with _fd_lock:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield
            finally:
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                data = tmp.read()
    if data:
        keep = []
        for line in data.decode("utf-8", "replace").splitlines(keepends=True):
            if NATIVE_NOISE.match(line):
                logger.info("native: %s", line.rstrip())
            else:
                keep.append(line)
        if keep:
            os.write(2, "".join(keep).encode("utf-8", "replace"))


def quiet_faiss_training() -> None:
    """Wrap faiss' ``train`` so its unconditional "WARNING clustering ..." print goes to the log.

    Milvus Lite trains an IVF index per segment, and faiss prints that warning whenever a segment has
    fewer than 39 points per cell, which small libraries always do. A no-op without faiss.
    """
    try:
        import faiss
    except ImportError:
        return
    for name in ("IndexIVFFlat", "IndexIVFScalarQuantizer", "IndexIVFPQ", "IndexIVF"):
        cls = getattr(faiss, name, None)
        train = getattr(cls, "train", None)
        if cls is None or train is None or getattr(train, "_lookalike_quiet", False):
            continue

        def quiet_train(self: Any, *args: Any, _train: Any = train, **kwargs: Any) -> Any:
            with native_stderr_to_log():
                return _train(self, *args, **kwargs)

        quiet_train._lookalike_quiet = True  # type: ignore[attr-defined]
        cls.train = quiet_train
