"""The command line file managers run, and how each of them wants it quoted.

File managers start actions with their own environment, whose ``PATH`` often lacks ``~/.local/bin`` or
the virtual environment that installed Lookalike, so the command names the executable by its absolute
path: the frozen app itself, the ``lookalike`` script of this environment, or this interpreter with
``-m desktop.launcher``.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import sysconfig
from collections.abc import Iterator, Sequence
from pathlib import Path

#: What follows the executable: ``lookalike integrate open FILE…`` (see :mod:`desktop.handoff`).
OPEN_ARGS = ("integrate", "open")


def _scripts_dirs() -> Iterator[Path]:
    """Where pip put this environment's console scripts (venv/bin, Scripts, ~/.local/bin for --user),
    the interpreter's own folder first; lazily, since that one usually has it."""
    yield Path(sys.executable).parent
    for scheme in (None, f"{os.name}_user"):
        try:
            p = sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
        except KeyError:  # the scheme does not exist on this platform
            continue
        if p:
            yield Path(p)


def launcher_command(*, windowed: bool = False) -> list[str]:
    """The argv that runs ``lookalike`` from anywhere, as absolute paths.

    ``windowed`` (Windows only) asks for the variant that opens no console window: ``lookalike-app.exe``
    or ``pythonw.exe``. Such a command takes the app's arguments (``--similar FILE``), not a CLI command.
    """
    windows = sys.platform == "win32"
    if getattr(sys, "frozen", False):  # a PyInstaller bundle: the executable is the app
        exe = Path(sys.executable)
        if windowed and windows:
            gui = exe.with_name("lookalike-app.exe")
            if gui.is_file():
                return [str(gui)]
        return [str(exe)]
    name = ("lookalike-app.exe" if windowed else "lookalike.exe") if windows else "lookalike"
    for d in _scripts_dirs():
        script = d / name
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script.absolute())]
    python = Path(sys.executable)
    if windowed and windows and python.with_name("pythonw.exe").is_file():
        python = python.with_name("pythonw.exe")
    # -m needs the packages importable from any folder: true for pip and editable installs.
    return [str(python.absolute()), "-m", "desktop.launcher", *(["app"] if windowed else [])]


def open_command() -> list[str]:
    """``lookalike integrate open`` as an argv prefix (the files follow)."""
    return [*launcher_command(), *OPEN_ARGS]


# -- freedesktop Desktop Entry "Exec" ----------------------------------------------------------------------

# Characters that force an argument into double quotes (Desktop Entry Specification, "The Exec key").
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def desktop_exec_arg(arg: str) -> str:
    """One argument as the Exec key wants it: quoted when needed, ``%`` doubled, and backslashes
    doubled once more because the Exec value is itself a string with ``\\\\`` escapes."""
    arg = arg.replace("%", "%%")
    if arg and not (set(arg) & _RESERVED):
        return arg
    inner = re.sub(r'(["`$\\])', r"\\\1", arg)
    return ('"' + inner + '"').replace("\\", "\\\\")


def desktop_exec(argv: Sequence[str], field_code: str = "%F") -> str:
    """An Exec value running ``argv`` followed by ``field_code`` (``%F``: all selected files)."""
    return " ".join([*(desktop_exec_arg(a) for a in argv), field_code])


def _split_exec(value: str) -> list[str]:
    """Split an Exec value (after string unescaping) into arguments: spaces separate them; inside double
    quotes a backslash escapes ``"``, backtick, ``$`` and backslash. Raises ValueError when unbalanced."""
    args: list[str] = []
    cur: list[str] = []
    in_arg = quoted = False
    i = 0
    while i < len(value):
        c = value[i]
        if quoted:
            if c == "\\" and i + 1 < len(value) and value[i + 1] in '"`$\\':
                cur.append(value[i + 1])
                i += 1
            elif c == '"':
                quoted = False
            else:
                cur.append(c)
        elif c == '"':
            quoted = in_arg = True
        elif c in " \t\n":
            if in_arg:
                args.append("".join(cur))
                cur, in_arg = [], False
        else:
            cur.append(c)
            in_arg = True
        i += 1
    if quoted:
        raise ValueError(f"unbalanced quotes in Exec value: {value!r}")
    if in_arg:
        args.append("".join(cur))
    return args


def parse_desktop_exec(value: str, files: Sequence[str]) -> list[str]:
    """The argv a launcher runs for an Exec ``value`` with ``files`` selected (``%f %F %u %U`` expanded,
    deprecated codes dropped), as the Desktop Entry Specification describes. Raises ValueError for
    malformed quoting."""
    escapes = {"s": " ", "n": "\n", "t": "\t", "r": "\r"}
    unescaped = re.sub(r"\\(.)", lambda m: escapes.get(m[1], m[1]), value)  # the string level first
    argv: list[str] = []
    for token in _split_exec(unescaped):
        if token in ("%F", "%U"):
            argv.extend(files)
        elif token in ("%f", "%u"):
            argv.extend(files[:1])
        elif token in ("%i", "%c", "%k", "%d", "%D", "%n", "%N", "%v", "%m"):
            continue
        else:
            argv.append(token.replace("%%", "%"))
    return argv


# -- other quoting -----------------------------------------------------------------------------------------


def sh_command(argv: Sequence[str]) -> str:
    """``argv`` as a POSIX shell command line (Nautilus script, Thunar action, macOS Run Shell Script)."""
    return " ".join(shlex.quote(a) for a in argv)


def windows_command(argv: Sequence[str], placeholder: str = "%1") -> str:
    """A registry ``command`` value: the program always double-quoted (Windows' own convention, and
    "C:\\Program Files" has a space), other arguments when they need it, then ``"%1"``."""
    quoted = [f'"{a}"' if (i == 0 or " " in a or not a) else a for i, a in enumerate(argv)]
    return " ".join(quoted) + f' "{placeholder}"'
