"""macOS integration: a Finder Quick Action, "Find similar with Lookalike", per user.

A Quick Action is an Automator workflow bundle in ``~/Library/Services``::

    Find similar with Lookalike.workflow/Contents/Info.plist      NSServices: the menu item, and the
                                                                  file types it is offered for
    Find similar with Lookalike.workflow/Contents/document.wflow  one "Run Shell Script" action that
                                                                  gets the selection as arguments

The script runs ``<absolute lookalike> integrate open "$@"``. Both files are property lists written with
:mod:`plistlib`; ``pbs -update`` (when present) makes the Services menu pick the bundle up at once.
"""

from __future__ import annotations

import contextlib
import plistlib
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.integration import ACTION_LABEL, APP_ID, APP_NAME
from desktop.integration.command import open_command, sh_command
from desktop.integration.common import FileItem, Integration, Item, Manifest

#: Uniform type identifiers the action is offered for (Finder shows it on any file conforming to them).
SEND_FILE_TYPES = ["public.image", "public.movie", "public.audio"]
BUNDLE_NAME = f"{ACTION_LABEL}.workflow"
PBS = Path("/System/Library/CoreServices/pbs")
# Automator identifies actions in a workflow by UUID; fixed ones keep the file identical between installs.
_UUIDS = ("4C2B39E3-6F7A-4B53-9E60-0D3A1F4C0001", "4C2B39E3-6F7A-4B53-9E60-0D3A1F4C0002",
          "4C2B39E3-6F7A-4B53-9E60-0D3A1F4C0003")  # fmt: skip


def shell_script(open_argv: list[str]) -> str:
    """What the Run Shell Script action runs; the selected files arrive as "$@" (inputMethod 1)."""
    return f'exec {sh_command(open_argv)} "$@"\n'


def info_plist() -> dict[str, Any]:
    """The bundle's Info.plist: one NSServices entry shown in Finder for images, movies and sounds."""
    return {
        "CFBundleName": ACTION_LABEL,
        "CFBundleIdentifier": f"{APP_ID}.FindSimilar",
        "NSServices": [
            {
                "NSMenuItem": {"default": ACTION_LABEL},
                "NSMessage": "runWorkflowAsService",
                "NSRequiredContext": {"NSApplicationIdentifier": "com.apple.finder"},
                "NSSendFileTypes": SEND_FILE_TYPES,
            }
        ],
    }


def document_wflow(open_argv: list[str]) -> dict[str, Any]:
    """The workflow: a Quick Action (servicesMenu) taking files in Finder, running one shell script."""
    return {
        "AMApplicationBuild": "523",
        "AMApplicationVersion": "2.10",
        "AMDocumentVersion": "2",
        "actions": [
            {
                "action": {
                    "AMAccepts": {"Container": "List", "Optional": True, "Types": ["com.apple.cocoa.path"]},
                    "AMActionVersion": "2.0.3",
                    "AMApplication": ["Automator"],
                    "AMParameterProperties": {
                        "COMMAND_STRING": {},
                        "CheckedForUserDefaultShell": {},
                        "inputMethod": {},
                        "shell": {},
                        "source": {},
                    },
                    "AMProvides": {"Container": "List", "Types": ["com.apple.cocoa.string"]},
                    "ActionBundlePath": "/System/Library/Automator/Run Shell Script.action",
                    "ActionName": "Run Shell Script",
                    "ActionParameters": {
                        "COMMAND_STRING": shell_script(open_argv),
                        "CheckedForUserDefaultShell": True,
                        "inputMethod": 1,  # the selection as arguments, not on stdin
                        "shell": "/bin/sh",
                        "source": "",
                    },
                    "BundleIdentifier": "com.apple.RunShellScript",
                    "CFBundleVersion": "2.0.3",
                    "CanShowSelectedItemsWhenRun": False,
                    "CanShowWhenRun": True,
                    "Category": ["AMCategoryUtilities"],
                    "Class Name": "RunShellScriptAction",
                    "InputUUID": _UUIDS[0],
                    "Keywords": ["Shell", "Script", "Command", "Run", "Unix"],
                    "OutputUUID": _UUIDS[1],
                    "UUID": _UUIDS[2],
                    "UnlocalizedApplications": ["Automator"],
                    "arguments": {},
                    "isViewVisible": 1,
                },
                "isViewVisible": 1,
            }
        ],
        "connectors": {},
        "workflowMetaData": {
            "applicationBundleIDsByPath": {},
            "applicationPaths": [],
            "inputTypeIdentifier": "com.apple.Automator.fileSystemObject",
            "outputTypeIdentifier": "com.apple.Automator.nothing",
            "presentationMode": 15,
            "processesInput": False,
            "serviceApplicationBundleID": "com.apple.finder",
            "serviceApplicationPath": "/System/Library/CoreServices/Finder.app",
            "serviceInputTypeIdentifier": "com.apple.Automator.fileSystemObject",
            "serviceOutputTypeIdentifier": "com.apple.Automator.nothing",
            "serviceProcessesInput": False,
            "systemImageName": "NSActionTemplate",
            "useAutomaticInputType": False,
            "workflowTypeIdentifier": "com.apple.Automator.servicesMenu",
        },
    }


def _plist_bytes(data: dict[str, Any]) -> bytes:
    # sort_keys keeps the bytes the same from one install to the next (no rewrite, no mtime change).
    return plistlib.dumps(data, fmt=plistlib.FMT_XML, sort_keys=True)


@dataclass
class MacPaths:
    """``~/Library/Services`` for the bundle, ``~/Library/Application Support/Lookalike`` for the manifest."""

    home: Path

    @classmethod
    def from_env(cls) -> MacPaths:
        return cls(Path.home())

    @property
    def bundle(self) -> Path:
        return self.home / "Library" / "Services" / BUNDLE_NAME

    @property
    def manifest(self) -> Path:
        return self.home / "Library" / "Application Support" / APP_NAME / "integration.json"


def _refresh_services(action: str, manifest: Manifest) -> None:
    if PBS.exists():  # only on a Mac; the menu also refreshes by itself after a while
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run([str(PBS), "-update"], capture_output=True, timeout=30)


def integration(paths: MacPaths | None = None, open_argv: list[str] | None = None) -> Integration:
    """The macOS integration into ``paths`` (default: the user's home)."""
    paths = paths or MacPaths.from_env()
    argv = list(open_argv or open_command())
    contents = paths.bundle / "Contents"
    items: list[Item] = [
        FileItem(contents / "Info.plist", _plist_bytes(info_plist()), "Quick Action (Info.plist)"),
        FileItem(contents / "document.wflow", _plist_bytes(document_wflow(argv)), "Quick Action (workflow)"),
    ]

    def restore(key: dict[str, Any]) -> Item:
        return FileItem(Path(key["path"]), None, "file")

    return Integration(
        platform="macos",
        items=items,
        manifest_path=paths.manifest,
        restore=restore,
        after_change=_refresh_services,
        facts={"command": sh_command(argv) + " FILE…"},
    )
