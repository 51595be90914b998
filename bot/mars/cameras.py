"""The camera catalogue: instrument codes, human names, families, and what people type for them."""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from bot.models import UnknownCamera

OTHER_FAMILY = "other"


@dataclass(frozen=True, slots=True)
class Camera:
    code: str
    name: str
    short: str
    family: str


@dataclass(frozen=True, slots=True)
class Selection:
    """What a camera argument resolved to: a label for titles and the codes to ask NASA for."""

    key: str  # canonical value for custom ids and autocomplete ("navcam", "NAVCAM_LEFT")
    label: str
    codes: tuple[str, ...]


def normalize(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.strip().lower())


class Catalogue:
    def __init__(self, data: dict):
        self.cameras: dict[str, Camera] = {
            c["code"]: Camera(c["code"], c["name"], c["short"], c["family"]) for c in data["camera"]
        }
        self.family_labels: dict[str, str] = {k: v["label"] for k, v in data["family"].items()}
        self.family_about: dict[str, str] = {k: v["about"] for k, v in data["family"].items()}
        self._lookup: dict[str, Selection] = {}
        for key, fam in data["family"].items():
            codes = tuple(c.code for c in self.cameras.values() if c.family == key)
            sel = Selection(key, fam["label"], codes)
            for name in (key, fam["label"], *fam["aliases"]):
                self._lookup.setdefault(normalize(name), sel)
        for key, grp in data.get("group", {}).items():
            sel = Selection(key, grp["label"], tuple(grp["codes"]))
            for name in (key, grp["label"], *grp["aliases"]):
                self._lookup.setdefault(normalize(name), sel)
        for cam in self.cameras.values():
            sel = Selection(cam.code, cam.name, (cam.code,))
            # An exact code always wins over an alias that happens to read the same.
            self._lookup[normalize(cam.code)] = sel
            for name in (cam.name, cam.short, *next(c["aliases"] for c in data["camera"] if c["code"] == cam.code)):
                self._lookup.setdefault(normalize(name), sel)

    # ------------------------------------------------------------ lookups

    def camera(self, code: str) -> Camera:
        """The catalogue entry, or a generic one: new cameras must never break a post."""
        known = self.cameras.get(code)
        if known:
            return known
        pretty = code.replace("_", " ").title() if code else "Unknown"
        return Camera(code, f"Camera {code or '?'}", pretty, OTHER_FAMILY)

    def family_of(self, code: str) -> str:
        return self.camera(code).family

    def family_label(self, family: str) -> str:
        return self.family_labels.get(family, "Other cameras")

    def resolve(self, text: str) -> Selection:
        """`navcam`, `Navcam`, `NAVCAM_LEFT`, `left navcam`, `mastcam` ... -> a Selection."""
        key = normalize(text)
        if not key:
            raise UnknownCamera(text, self.suggest(text))
        found = self._lookup.get(key)
        if found:
            return found
        raise UnknownCamera(text.strip(), self.suggest(text))

    def suggest(self, text: str, limit: int = 3) -> list[str]:
        key = normalize(text)
        names = list(self._lookup)
        close = difflib.get_close_matches(key, names, n=limit * 3, cutoff=0.5)
        if key:
            close += [n for n in names if n.startswith(key) or key in n.split()]
        out: list[str] = []
        for name in close:
            canon = self._lookup[name].key
            if canon not in out:
                out.append(canon)
        return out[:limit]

    def choices(self, typed: str, limit: int = 25) -> list[tuple[str, str]]:
        """(shown name, value) pairs for autocomplete: families first, then single cameras."""
        key = normalize(typed)
        seen: set[str] = set()
        out: list[tuple[str, str]] = []
        ranked = sorted(self._lookup.items(), key=lambda kv: (not kv[1].key.islower(), kv[1].key))
        for name, sel in ranked:
            if sel.key in seen:
                continue
            if key and not (name.startswith(key) or key in name or key in normalize(sel.label)):
                continue
            seen.add(sel.key)
            shown = f"{sel.label} ({sel.key})" if sel.key != sel.label else sel.label
            out.append((shown[:100], sel.key))
            if len(out) >= limit:
                break
        return out


@cache
def load(name: str = "cameras.toml") -> Catalogue:
    """A catalogue from bot/data: cameras.toml (Perseverance) or curiosity_cameras.toml."""
    text = resources.files("bot.mars").joinpath(f"data/{name}").read_text(encoding="utf-8")
    return Catalogue(tomllib.loads(text))


def default() -> Catalogue:
    return load("cameras.toml")
