"""Locating and downloading C-MAPSS, against a real loopback HTTP server."""
from __future__ import annotations

import http.server
import io
import threading
import zipfile
from pathlib import Path

import pytest

from study.core.errors import ChecksumMismatch, DataError, StudyError
from study.data import fetch
from study.data.cmapss import SHA256


def _zip_bytes(files: dict[str, bytes], nested: bool = False) -> bytes:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"CMAPSSData/{name}", data)
    if not nested:
        return inner.getvalue()
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as archive:  # NASA's layout: a zip inside a zip
        archive.writestr("6. Turbofan Engine Degradation Simulation Data Set/CMAPSSData.zip", inner.getvalue())
    return outer.getvalue()


@pytest.fixture(scope="module")
def real_files(cmapss_dir) -> dict[str, bytes]:
    return {name: (cmapss_dir / name).read_bytes() for name in SHA256}


@pytest.fixture
def server(real_files):
    """Serves /good.zip, /nested.zip, /corrupt.zip (one file altered); anything else is 404."""
    corrupt = dict(real_files, **{"RUL_FD003.txt": real_files["RUL_FD003.txt"] + b"1\n"})
    payloads = {"/good.zip": _zip_bytes(real_files), "/nested.zip": _zip_bytes(real_files, nested=True),
                "/corrupt.zip": _zip_bytes(corrupt)}
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            hits.append(self.path)
            body = payloads.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()


def _assert_installed(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(SHA256)


def test_download_skips_failing_and_corrupt_mirrors_and_installs_verified_files(server, tmp_path):
    base, hits = server
    target = tmp_path / "cmapss"
    fetch.download(target, [f"{base}/missing.zip", f"{base}/corrupt.zip", f"{base}/good.zip"], log=lambda m: None)
    assert hits == ["/missing.zip", "/corrupt.zip", "/good.zip"]
    _assert_installed(target)  # nothing half-written or left from the corrupt attempt


def test_nested_nasa_zip_is_unpacked(server, tmp_path):
    base, _ = server
    fetch.download(tmp_path, [f"{base}/nested.zip"], log=lambda m: None)
    _assert_installed(tmp_path)


def test_all_mirrors_failing_raises_with_each_reason_and_leaves_nothing(server, tmp_path):
    base, _ = server
    with pytest.raises(DataError) as info:
        fetch.download(tmp_path, [f"{base}/missing.zip", f"{base}/corrupt.zip"], log=lambda m: None)
    assert "missing.zip" in str(info.value) and "corrupt.zip" in str(info.value)
    assert "--data-dir" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_locate_downloads_into_explicit_data_dir_via_env_mirrors(server, tmp_path, monkeypatch):
    base, _ = server
    monkeypatch.delenv("CMAPSS_DATA_DIR", raising=False)
    monkeypatch.setenv("CMAPSS_MIRRORS", f"{base}/missing.zip,{base}/good.zip")
    folder = fetch.locate(tmp_path / "data", log=lambda m: None)
    assert folder == tmp_path / "data"
    _assert_installed(folder)


def test_local_zip_in_data_dir_is_used_without_network(real_files, tmp_path, monkeypatch):
    monkeypatch.delenv("CMAPSS_DATA_DIR", raising=False)
    (tmp_path / "CMAPSSData.zip").write_bytes(_zip_bytes(real_files, nested=True))
    folder = fetch.locate(tmp_path, offline=True, log=lambda m: None)
    assert (folder / "train_FD004.txt").read_bytes() == real_files["train_FD004.txt"]


def test_corrupt_local_zip_is_refused_and_nothing_is_moved_into_place(real_files, tmp_path):
    bad = dict(real_files, **{"test_FD002.txt": b"1 1 0 0 100\n"})
    (tmp_path / "CMAPSSData.zip").write_bytes(_zip_bytes(bad))
    with pytest.raises(ChecksumMismatch, match="test_FD002.txt"):
        fetch.install_from_zip(tmp_path / "CMAPSSData.zip", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_offline_without_data_names_the_folders_searched(tmp_path, monkeypatch):
    monkeypatch.delenv("CMAPSS_DATA_DIR", raising=False)
    monkeypatch.setattr(fetch, "PROJECT_DATA_DIR", tmp_path / "project")
    monkeypatch.setattr(fetch, "user_cache_dir", lambda: tmp_path / "cache")
    with pytest.raises(DataError, match="--offline") as info:
        fetch.locate(tmp_path / "mine", offline=True)
    assert str(tmp_path / "mine") in str(info.value)


def test_env_data_dir_is_searched_after_explicit_dir(cmapss_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CMAPSS_DATA_DIR", str(cmapss_dir))
    assert fetch.locate(tmp_path / "empty", offline=True) == cmapss_dir


def test_the_zip_itself_as_data_dir_is_unpacked_beside_it(real_files, tmp_path, monkeypatch):
    monkeypatch.delenv("CMAPSS_DATA_DIR", raising=False)
    (tmp_path / "CMAPSSData.zip").write_bytes(_zip_bytes(real_files))
    assert fetch.locate(tmp_path / "CMAPSSData.zip", offline=True, log=lambda m: None) == tmp_path
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(DataError, match="is a file"):
        fetch.locate(tmp_path / "notes.txt", offline=True)


def test_offline_with_a_partial_folder_names_the_missing_files(real_files, tmp_path, monkeypatch):
    monkeypatch.delenv("CMAPSS_DATA_DIR", raising=False)
    monkeypatch.setattr(fetch, "PROJECT_DATA_DIR", tmp_path / "project")
    monkeypatch.setattr(fetch, "user_cache_dir", lambda: tmp_path / "cache")
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("train_FD001.txt", "test_FD001.txt", "RUL_FD001.txt"):
        (mine / name).write_bytes(real_files[name])
    with pytest.raises(DataError, match="lacks: RUL_FD002.txt, RUL_FD003.txt") as info:
        fetch.locate(mine, offline=True)
    assert "train_FD001.txt" not in str(info.value).split("lacks:")[1]


def test_cmapss_data_dir_may_name_the_zip_too(real_files, tmp_path, monkeypatch):
    (tmp_path / "CMAPSSData.zip").write_bytes(_zip_bytes(real_files))
    monkeypatch.setenv("CMAPSS_DATA_DIR", str(tmp_path / "CMAPSSData.zip"))
    assert fetch.locate(None, offline=True, log=lambda m: None) == tmp_path


def test_the_projects_own_data_folder_is_data_cmapss_at_the_repository_root():
    """The third place searched (after --data-dir and $CMAPSS_DATA_DIR) is the README's
    ``data/cmapss/``, wherever the module sits in the package."""
    root = Path(__file__).resolve().parents[2]
    assert fetch.PROJECT_DATA_DIR == root / "data" / "cmapss"
    assert (root / "data" / "SHA256SUMS").is_file()


def test_a_modified_member_of_a_zip_is_named_by_zip_and_member(tmp_path):
    from study.data.fetch import install_from_zip

    archive = tmp_path / "CMAPSSData.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for name in SHA256:
            handle.writestr(f"CMAPSSData/{name}", "1 1\n")  # every member differs from NASA's
    with pytest.raises(ChecksumMismatch) as info:
        install_from_zip(archive, tmp_path / "target")
    message = str(info.value)
    assert f"inside {archive}" in message and ".incoming-" not in message
    assert not list((tmp_path / "target").iterdir())  # nothing half-installed


def test_a_corrupt_zip_is_a_user_error_with_the_way_out(tmp_path):
    from study.data.fetch import install_from_zip

    (tmp_path / "CMAPSSData.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(StudyError, match="not a valid zip archive .*; delete it, or replace it with an intact copy"):
        install_from_zip(tmp_path / "CMAPSSData.zip", tmp_path / "target")
