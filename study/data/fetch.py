"""Find C-MAPSS on disk, or fetch it: mirrors in turn, a local zip, verify before moving.

Search order: ``--data-dir``, ``$CMAPSS_DATA_DIR``, the project's ``data/cmapss/``, the user
cache dir, then download (unless offline). A download or zip is unpacked into a temporary
folder beside the target, every file is verified, and only then moved into place, so a
failed or corrupt download never leaves half-written files behind.
"""
from __future__ import annotations

import io
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from study.core.errors import DataError, environment_fault
from study.data.cmapss import SHA256, verify_file

MIRRORS: tuple[str, ...] = (
    "https://zenodo.org/records/15346912/files/CMAPSSData.zip?download=1",
    "https://phm-datasets.s3.amazonaws.com/NASA/6.+Turbofan+Engine+Degradation+Simulation+Data+Set.zip",
    "https://kr0k0tsch.de/rul-datasets/CMAPSSData.zip",
)
ZIP_NAME = "CMAPSSData.zip"
PROJECT_DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "cmapss"


def user_cache_dir() -> Path:
    """Per-user cache for downloads when the project folder is not writable."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("cmapss-study")) / "cmapss"


def mirrors_from_env() -> tuple[str, ...]:
    """Mirrors to try: ``$CMAPSS_MIRRORS`` (comma-separated) overrides the built-in list."""
    configured = os.environ.get("CMAPSS_MIRRORS", "").strip()
    return tuple(u.strip() for u in configured.split(",") if u.strip()) or MIRRORS


def _has_all_files(folder: Path) -> bool:
    return all(_is_file(folder / name) for name in SHA256)


def _is_file(path: Path) -> bool:
    """``Path.is_file``, but a folder we may not look into is an error, not an absent file."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        return False
    except PermissionError as exc:
        raise environment_fault(exc, "look for the C-MAPSS files in",
                                "Make the folder readable, or point --data-dir at a readable copy.") from exc
    return path.is_file()


def _missing_note(folder: Path | None) -> str:
    """Which files a folder the user named lacks (all 12 are needed, whatever the subsets)."""
    if folder is None or not folder.is_dir():
        return f" ({folder} does not exist.)" if folder is not None else ""
    missing = [name for name in SHA256 if not _is_file(folder / name)]
    return f" {folder} lacks: {', '.join(missing)}." if missing else ""


def _extract_wanted(archive: zipfile.ZipFile, into: Path, depth: int = 0) -> None:
    """Copy the 12 C-MAPSS files out of a zip, looking inside nested zips (NASA's layout)."""
    for info in archive.infolist():
        base = Path(info.filename).name
        if base in SHA256 and not (into / base).exists():
            with archive.open(info) as src, open(into / base, "wb") as dst:
                shutil.copyfileobj(src, dst)
        elif base.lower().endswith(".zip") and depth < 3:
            with archive.open(info) as inner:
                with zipfile.ZipFile(io.BytesIO(inner.read())) as nested:
                    _extract_wanted(nested, into, depth + 1)


def install_from_zip(zip_path: Path, target: Path) -> Path:
    """Unpack a C-MAPSS zip (flat or nested) into ``target`` after verifying every file."""
    try:
        return _install_from_zip(zip_path, target)
    except OSError as exc:
        raise environment_fault(exc, f"unpack {zip_path} into", "Make that folder writable (and the zip "
                                "readable), or unpack the 12 files yourself and point --data-dir at them.") from exc


def _install_from_zip(zip_path: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".incoming-") as tmp:
        staging = Path(tmp)
        try:
            with zipfile.ZipFile(zip_path) as archive:
                _extract_wanted(archive, staging)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
            raise DataError(f"{zip_path} is not a valid zip archive ({exc}); delete it, or replace it with "
                            "an intact copy.") from exc
        missing = sorted(n for n in SHA256 if not (staging / n).is_file())
        if missing:
            raise DataError(f"{zip_path} lacks C-MAPSS files: {', '.join(missing)}.")
        for name in SHA256:  # a mismatch names the zip and the member, not the staging folder
            verify_file(staging / name, shown_as=f"{name} inside {zip_path}")
        for name in SHA256:
            os.replace(staging / name, target / name)
    return target


def download(target: Path, mirrors: Sequence[str], log: Callable[[str], None] = print,
             timeout: float = 60.0) -> Path:
    """Try each mirror until one yields a zip whose files all verify; install it in ``target``."""
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise environment_fault(exc, "create the data folder", "Point --data-dir at a writable folder.") from exc
    failures: list[str] = []
    for url in mirrors:
        log(f"Downloading C-MAPSS from {url}")
        with tempfile.TemporaryDirectory(dir=target, prefix=".download-") as tmp:
            zip_path = Path(tmp) / ZIP_NAME
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response, open(zip_path, "wb") as out:
                    shutil.copyfileobj(response, out)
                return install_from_zip(zip_path, target)
            except (urllib.error.URLError, OSError, DataError) as exc:
                reason = getattr(exc, "reason", None) or exc
                failures.append(f"{url}: {reason}")
                log(f"  failed: {reason}")
    raise DataError(
        "Could not obtain C-MAPSS from any mirror (" + "; ".join(failures) + "). Download "
        f"{ZIP_NAME} by hand (NASA PCoE data repository) and put it, or its 12 files, in {target}; "
        "or point --data-dir (or CMAPSS_DATA_DIR) at the folder that holds them." + _missing_note(target)
    )


def candidate_dirs(data_dir: Path | None) -> list[Path]:
    """Folders searched for the files, in order."""
    found: list[Path] = []
    if data_dir is not None:
        found.append(_as_folder(Path(data_dir), "--data-dir"))
    env = os.environ.get("CMAPSS_DATA_DIR")
    if env:
        found.append(_as_folder(Path(env), "CMAPSS_DATA_DIR"))
    found += [PROJECT_DATA_DIR, user_cache_dir()]
    return found


def _as_folder(path: Path, what: str) -> Path:
    """A folder the user named; naming CMAPSSData.zip itself means its folder."""
    if not _is_file(path):
        return path
    if path.name != ZIP_NAME:
        raise DataError(f"{what} {path} is a file; give the folder holding the 12 C-MAPSS files or {ZIP_NAME}.")
    return path.parent


def locate(data_dir: Path | None = None, offline: bool = False,
           log: Callable[[str], None] = print) -> Path:
    """Return a folder holding all 12 files, unpacking a local zip or downloading if needed.

    An explicit ``data_dir`` (or ``$CMAPSS_DATA_DIR``) that lacks the files is where a
    download or zip goes; without one, the project's ``data/cmapss/`` (or the user cache if
    that is not writable).
    """
    candidates = candidate_dirs(data_dir)
    for folder in candidates:
        if _has_all_files(folder):
            return folder
        if _is_file(folder / ZIP_NAME):
            log(f"Unpacking {folder / ZIP_NAME}")
            return install_from_zip(folder / ZIP_NAME, folder)
    explicit = data_dir is not None or bool(os.environ.get("CMAPSS_DATA_DIR"))
    if offline:
        raise DataError(
            "C-MAPSS files not found in " + ", ".join(str(c) for c in candidates) + " and "
            "--offline forbids downloading. Put the 12 files (or CMAPSSData.zip) in one of "
            "these folders, or drop --offline." + _missing_note(candidates[0] if explicit else None)
        )
    target = candidates[0] if explicit else _writable(PROJECT_DATA_DIR) or user_cache_dir()
    return download(target, mirrors_from_env(), log)


def _writable(folder: Path) -> Path | None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None
