"""A registry in a dictionary, for testing the Windows integration on any OS."""

from __future__ import annotations

import copy


class FakeRegistry:
    """:class:`desktop.integration.windows.Registry` over ``{key: {name: value}}``; counts writes."""

    def __init__(self, keys: dict[str, dict[str, str]] | None = None) -> None:
        self.keys: dict[str, dict[str, str]] = {}
        self.writes = 0
        for k, values in (keys or {}).items():
            for name, value in values.items():
                self.set(k, name, value)
            self._ensure(k)
        self.writes = 0

    def snapshot(self) -> dict[str, dict[str, str]]:
        return copy.deepcopy(self.keys)

    def _ensure(self, key: str) -> None:
        parts = key.split("\\")
        for i in range(1, len(parts) + 1):
            self.keys.setdefault("\\".join(parts[:i]), {})

    def get(self, key: str, name: str) -> str | None:
        return self.keys.get(key, {}).get(name)

    def set(self, key: str, name: str, value: str) -> None:
        self._ensure(key)
        self.keys[key][name] = value
        self.writes += 1

    def delete_value(self, key: str, name: str) -> bool:
        self.writes += 1
        return self.keys.get(key, {}).pop(name, None) is not None

    def key_exists(self, key: str) -> bool:
        return key in self.keys

    def _subkeys(self, key: str) -> list[str]:
        return [k for k in self.keys if k.startswith(key + "\\")]

    def is_empty(self, key: str) -> bool:
        return key in self.keys and not self.keys[key] and not self._subkeys(key)

    def delete_key(self, key: str) -> None:
        if self._subkeys(key):
            raise OSError(f"{key} has subkeys")  # as winreg.DeleteKey does
        if key not in self.keys:
            raise FileNotFoundError(key)
        del self.keys[key]
        self.writes += 1
