"""The model manifest, verification by sha256, and ``stopsafe models fetch``."""

from __future__ import annotations

import hashlib
import io
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import yaml

REPO_MANIFEST = Path(__file__).resolve().parent.parent / "models" / "manifest.yaml"
INSTALLED_MANIFEST = Path(sys.prefix) / "share" / "stopsafe" / "models" / "manifest.yaml"


class ModelProblem(str, Enum):
    """What is wrong with a model file, for the fault a person reads (``detail.problem``)."""

    MISSING = "missing"  # no such file
    FOLDER_MISSING = "folder_missing"  # detector.models_dir itself is not there
    NOT_IN_MANIFEST = "not_in_manifest"  # a file the manifest does not know (verify_hash on)
    SHA_MISMATCH = "sha_mismatch"  # damaged, a fetch that did not finish, another file
    UNREADABLE = "unreadable"  # the runtime cannot load it (corrupt, not a model)
    WRONG_BACKEND = "wrong_backend"  # it loads, but its tensors are not what the back-end reads


class ModelError(RuntimeError):
    """A model that cannot be used; ``problem`` says what is wrong with it."""

    default_problem = ModelProblem.UNREADABLE

    def __init__(self, message: str, problem: ModelProblem | None = None,
                 path: Path | None = None) -> None:
        super().__init__(message)
        self.problem = problem or self.default_problem
        self.path = path  # the file concerned, where known


class ModelMismatch(ModelError):
    """The model file is not what its back-end reads: it does not load, or its tensors do not
    fit (a config or file problem: trying again finds the same until someone changes it)."""

    default_problem = ModelProblem.WRONG_BACKEND


@dataclass(frozen=True, slots=True)
class ModelEntry:
    file: str
    sha256: str
    licence: str
    origin: str
    url: str | None = None
    archive_member: str | None = None
    backend: str | None = None


def manifest_path() -> Path:
    for path in (REPO_MANIFEST, INSTALLED_MANIFEST):
        if path.is_file():
            return path
    raise ModelError(f"model manifest not found (looked in {REPO_MANIFEST}, {INSTALLED_MANIFEST})")


def load_manifest(path: Path | None = None) -> dict[str, ModelEntry]:
    data = yaml.safe_load((path or manifest_path()).read_text(encoding="utf-8"))
    return {m["file"]: ModelEntry(**m) for m in data["models"]}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_hint(models_dir: Path) -> str:
    return (f"fetch it with: stopsafe models fetch --dir {models_dir} "
            f"[--from DIR_WITH_THE_MODELS]")


def verify_model(path: Path, *, check_hash: bool = True) -> ModelEntry | None:
    """Raise :class:`ModelError` unless ``path`` exists and matches its manifest hash."""
    if not path.parent.is_dir():
        raise ModelError(f"models folder {path.parent} does not exist (looking for "
                         f"{path.name}); {fetch_hint(path.parent)}",
                         ModelProblem.FOLDER_MISSING, path)
    if not path.is_file():
        raise ModelError(f"model {path} is missing; {fetch_hint(path.parent)}",
                         ModelProblem.MISSING, path)
    entry = load_manifest().get(path.name)
    if entry is None:
        if check_hash:
            raise ModelError(f"model {path.name} is not in the manifest {manifest_path()}",
                             ModelProblem.NOT_IN_MANIFEST, path)
        return None
    if check_hash and sha256_of(path) != entry.sha256:
        raise ModelError(f"model {path} does not match its sha256 in the manifest "
                         f"(corrupt or a different file); {fetch_hint(path.parent)}",
                         ModelProblem.SHA_MISMATCH, path)
    return entry


def _download(entry: ModelEntry) -> bytes:
    if not entry.url:
        raise ModelError(f"{entry.file}: no download address in the manifest")
    with urllib.request.urlopen(entry.url, timeout=60) as resp:
        blob = resp.read()
    if entry.archive_member:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            return zf.read(entry.archive_member)
    return blob


def fetch_models(dest: Path, source: Path | None = None, names: list[str] | None = None,
                 ) -> list[tuple[str, str]]:
    """Put the manifest's models into ``dest``; returns (file, what happened) per model.

    From ``source`` (an offline bundle folder) when given, else from each model's address. A file
    already in place with the right hash is kept; one whose hash does not match is refused.
    """
    manifest = load_manifest()
    wanted = names or list(manifest)
    dest.mkdir(parents=True, exist_ok=True)
    done = []
    for name in wanted:
        entry = manifest.get(name)
        if entry is None:
            raise ModelError(f"{name} is not in the manifest")
        target = dest / name
        if target.is_file() and sha256_of(target) == entry.sha256:
            done.append((name, "present"))
            continue
        with tempfile.NamedTemporaryFile(dir=dest, prefix=f".{name}.", delete=False) as tmp:
            tmp_path = Path(tmp.name)
            try:
                if source is not None:
                    src = source / name
                    if not src.is_file():
                        raise ModelError(f"{name} is not in {source}")
                    with src.open("rb") as f:
                        shutil.copyfileobj(f, tmp)
                else:
                    tmp.write(_download(entry))
            except BaseException:
                tmp_path.unlink(missing_ok=True)
                raise
        got = sha256_of(tmp_path)
        if got != entry.sha256:
            tmp_path.unlink(missing_ok=True)
            raise ModelError(f"{name}: sha256 {got} does not match the manifest's "
                             f"{entry.sha256}; refused")
        tmp_path.chmod(0o644)
        tmp_path.replace(target)
        done.append((name, "copied" if source is not None else "downloaded"))
    return done
