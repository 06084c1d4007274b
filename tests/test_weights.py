"""ganeval.weights: search order, sha256 verification, install, download (local http server, file://).

Fake weights are seeded random bytes registered under a test spec whose sha256 is computed here with
hashlib, independently of ganeval. Every test points GANEVAL_WEIGHTS_DIR, GANEVAL_CACHE_DIR and
TORCH_HOME at its own tmp dirs, so nothing outside tmp_path is read or written.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import random
import re
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from ganeval import weights
from ganeval.errors import BadInputError, MissingWeightsError
from ganeval.weights import (
    ResolvedWeights,
    UnverifiedWeightsWarning,
    WeightsSpec,
    download_weights,
    find_weights,
    get_weights_spec,
    install_weights,
    register_weights,
    resolve_weights,
    search_locations,
    sha256_file,
    weights_status,
)

NAME = "fake-net"
SIZE = (5 << 19) + 7  # 2.5 MiB + 7 bytes: several 1 MiB chunks and a ragged tail


def _payload(seed: int, size: int = SIZE) -> bytes:
    return random.Random(seed).randbytes(size)


GOOD = _payload(1)
BAD = _payload(2)  # same size, other content
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()
BAD_SHA = hashlib.sha256(BAD).hexdigest()
CANONICAL = f"fake-net-{GOOD_SHA[:10]}.pth"
ALT = "alt-fake-net.pth"


def _listing(d: Path) -> list[str]:
    """Every entry of a directory, dot-files (temp files) included; [] when it does not exist."""
    return sorted(os.listdir(d)) if d.exists() else []


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Search dirs in tmp: the paths are spelled out here from the env-var contract, not asked of ganeval."""
    for var in ("GANEVAL_OFFLINE", "XDG_CACHE_HOME", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    env_dir, cache, torch_home = tmp_path / "envdir", tmp_path / "cache", tmp_path / "torch"
    monkeypatch.setenv("GANEVAL_WEIGHTS_DIR", str(env_dir))
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(cache))
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    return SimpleNamespace(
        tmp=tmp_path, env_dir=env_dir, cache=cache / "weights", hub=torch_home / "hub" / "checkpoints",
    )


@pytest.fixture
def fake(monkeypatch):
    """Register the fake spec (sha256 as a 10-digit prefix) in a private copy of the registry."""
    monkeypatch.setattr(weights, "_REGISTRY", dict(weights._REGISTRY))
    spec = WeightsSpec(
        name=NAME, filenames=(CANONICAL, ALT), sha256=GOOD_SHA[:10], url=None,
        description="test weights", offline_alternative="fmnist-cnn",
    )
    register_weights(spec)
    return spec


def _with_url(url: str | None, sha256: str = GOOD_SHA[:10]) -> WeightsSpec:
    spec = WeightsSpec(name=NAME, filenames=(CANONICAL, ALT), sha256=sha256, url=url,
                       description="test weights", offline_alternative="fmnist-cnn")
    register_weights(spec)
    return spec


# --- a local HTTP server -------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Routes: path -> (kind, body). "ok" sends body; "truncate" announces len(body) but sends half and
    closes; "stall" sends nothing until the test ends."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        kind, body = route
        if kind == "stall":
            self.server.release.wait(10)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if kind == "ok" else body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.routes = {}
    srv.release = threading.Event()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield SimpleNamespace(routes=srv.routes, base=f"http://127.0.0.1:{srv.server_address[1]}")
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/w.pth"


# --- registry and hashing ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, SIZE])
def test_sha256_file_equals_hashlib(tmp_path, size):
    data = _payload(size + 11, size)
    assert sha256_file(_write(tmp_path / "f.bin", data)) == hashlib.sha256(data).hexdigest()


def test_inception_spec_agrees_with_the_peers():
    spec = get_weights_spec("inception")
    assert spec.filenames[0] == "pt_inception-2015-12-05-6726825d.pth"
    assert spec.offline_alternative == "fmnist-cnn"
    # The URLs and torch.hub's hash-prefix rule, read from the peers' source files: importing them
    # (torch) takes seconds, and find_spec of a top-level package imports nothing.
    def source(package: str, file: str) -> str:
        return (Path(importlib.util.find_spec(package).submodule_search_locations[0]) / file).read_text()
    fid_url = re.search(r"FID_WEIGHTS_URL = '([^']+)'", source("pytorch_fid", "inception.py")).group(1)
    fidelity_url = re.search(r'"(https://[^"]+weights-inception[^"]+)"',
                             source("torch_fidelity", "feature_extractor_inceptionv3.py")).group(1)
    hash_regex = re.compile(re.search(r'HASH_REGEX = re.compile\(r"([^"]+)"\)', source("torch", "hub.py")).group(1))
    assert spec.url == fid_url
    assert set(spec.filenames) == {fid_url.rsplit("/", 1)[1], fidelity_url.rsplit("/", 1)[1]}
    for filename in spec.filenames:
        assert hash_regex.search(filename).group(1) == spec.sha256


def test_unknown_name_is_bad_input_listing_known_names(fake):
    with pytest.raises(BadInputError) as info:
        get_weights_spec("incepton")
    assert info.value.exit_code == 2
    assert "incepton" in str(info.value) and "inception" in str(info.value) and NAME in str(info.value)


@pytest.mark.parametrize("kwargs", [
    {"sha256": "xyz12345"}, {"sha256": "abc"}, {"sha256": "a" * 65}, {"filenames": ()}, {"filenames": ("a/b.pth",)},
    {"filenames": "single.pth"},
])
def test_malformed_spec_is_refused(kwargs):
    base = {"name": "x", "filenames": ("x.pth",), "sha256": "0" * 8, "url": None, "description": ""}
    with pytest.raises(ValueError):
        WeightsSpec(**{**base, **kwargs})


def test_spec_hash_is_case_insensitive_and_prefix_or_full():
    spec = WeightsSpec(name="x", filenames=("x.pth",), sha256=GOOD_SHA[:12].upper(), url=None, description="")
    assert spec.sha256 == GOOD_SHA[:12]
    assert spec.matches(GOOD_SHA) and not spec.matches(BAD_SHA)
    full = WeightsSpec(name="x", filenames=("x.pth",), sha256=GOOD_SHA, url=None, description="")
    assert full.matches(GOOD_SHA) and not full.matches(GOOD_SHA[:-1] + ("0" if GOOD_SHA[-1] != "0" else "1"))


# --- search order ----------------------------------------------------------------------------------


def test_search_locations_follow_the_environment(env, fake, monkeypatch):
    explicit = env.tmp / "given.pth"
    assert search_locations(NAME, explicit) == [
        ("explicit", explicit), ("GANEVAL_WEIGHTS_DIR", env.env_dir), ("cache", env.cache), ("torch-hub", env.hub),
    ]
    monkeypatch.delenv("GANEVAL_WEIGHTS_DIR")
    assert search_locations(NAME) == [("cache", env.cache), ("torch-hub", env.hub)]
    monkeypatch.setenv("GANEVAL_WEIGHTS_DIR", str(env.cache))  # the same dir twice is looked at once
    assert [w for w, _ in search_locations(NAME)] == ["GANEVAL_WEIGHTS_DIR", "torch-hub"]


def test_search_order_precedence(env, fake):
    planted = {
        "GANEVAL_WEIGHTS_DIR": _write(env.env_dir / ALT, GOOD),
        "cache": _write(env.cache / CANONICAL, GOOD),
        "torch-hub": _write(env.hub / CANONICAL, GOOD),
    }
    explicit = _write(env.tmp / "elsewhere" / "any-name.bin", GOOD)
    assert find_weights(NAME, explicit) == ResolvedWeights(explicit, GOOD_SHA, "explicit")
    for where, path in planted.items():
        assert find_weights(NAME) == ResolvedWeights(path, GOOD_SHA, where)
        assert resolve_weights(NAME, allow_download=False) == ResolvedWeights(path, GOOD_SHA, where)
        path.unlink()
    assert find_weights(NAME) is None


@pytest.mark.parametrize("filename", [CANONICAL, ALT])
def test_both_accepted_names_are_found(env, fake, filename):
    path = _write(env.hub / filename, GOOD)
    assert find_weights(NAME) == ResolvedWeights(path, GOOD_SHA, "torch-hub")


def test_other_file_names_are_not_searched(env, fake):
    _write(env.env_dir / "fake-net.pth", GOOD)
    _write(env.cache / CANONICAL.upper(), GOOD)
    assert find_weights(NAME) is None


def test_wrong_hash_in_a_dir_is_skipped_with_a_warning_and_reported(env, fake):
    wrong = _write(env.env_dir / CANONICAL, BAD)
    right = _write(env.hub / ALT, GOOD)
    with pytest.warns(UnverifiedWeightsWarning, match=re.escape(str(wrong))) as record:
        assert find_weights(NAME) == ResolvedWeights(right, GOOD_SHA, "torch-hub")
    assert BAD_SHA in str(record[0].message)
    row = next(r for r in weights_status() if r["name"] == NAME)
    statuses = {c["path"]: c["status"] for c in row["candidates"]}
    assert statuses[str(wrong)] == f"unverified: sha256 {BAD_SHA} does not start with {GOOD_SHA[:10]}"
    assert statuses[str(right)] == "verified"


def test_wrong_hash_explicit_is_an_error_not_a_fall_through(env, fake):
    _write(env.env_dir / CANONICAL, GOOD)
    wrong = _write(env.tmp / "mine.pth", BAD)
    for call in (lambda: find_weights(NAME, wrong), lambda: resolve_weights(NAME, wrong)):
        with pytest.raises(MissingWeightsError) as info:
            call()
        assert info.value.exit_code == 3
        message = str(info.value)
        assert str(wrong) in message and BAD_SHA in message and GOOD_SHA[:10] in message
        assert "\n" not in message


def test_missing_or_folder_explicit_is_an_error(env, fake):
    _write(env.env_dir / CANONICAL, GOOD)
    for given in (env.tmp / "nope.pth", env.env_dir):
        with pytest.raises(MissingWeightsError, match=re.escape(str(given))):
            resolve_weights(NAME, given)


def test_verification_is_cached_until_the_file_changes(env, fake, monkeypatch):
    calls = []
    real = weights.sha256_file
    monkeypatch.setattr(weights, "sha256_file", lambda p: calls.append(Path(p)) or real(p))
    path = _write(env.cache / CANONICAL, GOOD)
    assert find_weights(NAME).sha256 == GOOD_SHA
    assert find_weights(NAME).sha256 == GOOD_SHA
    assert calls == [path]
    before = path.stat().st_mtime_ns
    path.write_bytes(BAD)  # same size, same inode: only the mtime tells
    os.utime(path, ns=(before + 10**9, before + 10**9))
    with pytest.warns(UnverifiedWeightsWarning):
        assert find_weights(NAME) is None
    assert calls == [path, path]


# --- install ---------------------------------------------------------------------------------------


def test_install_verifies_copies_and_leaves_the_source_alone(env, fake, monkeypatch):
    monkeypatch.delenv("GANEVAL_WEIGHTS_DIR")
    source = _write(env.tmp / "downloads" / "inception.pth", GOOD)
    os.chmod(source, 0o444)
    before = source.stat()
    resolved = install_weights(NAME, source)
    assert resolved == ResolvedWeights(env.cache / CANONICAL, GOOD_SHA, "cache")
    assert (env.cache / CANONICAL).read_bytes() == GOOD
    assert _listing(env.cache) == [CANONICAL]
    after = source.stat()
    assert source.read_bytes() == GOOD
    assert (after.st_mtime_ns, after.st_size, after.st_mode, after.st_ino) == (
        before.st_mtime_ns, before.st_size, before.st_mode, before.st_ino)
    source.unlink()
    assert find_weights(NAME) == ResolvedWeights(env.cache / CANONICAL, GOOD_SHA, "cache")


def test_install_of_a_wrong_file_is_refused_and_writes_nothing(env, fake):
    source = _write(env.tmp / "wrong.pth", BAD)
    with pytest.raises(MissingWeightsError) as info:
        install_weights(NAME, source)
    assert info.value.exit_code == 3 and str(source) in str(info.value)
    assert _listing(env.cache) == []
    assert source.read_bytes() == BAD
    with pytest.raises(MissingWeightsError, match="nope.pth"):
        install_weights(NAME, env.tmp / "nope.pth")
    assert _listing(env.cache) == []


def test_install_replaces_a_wrong_file_in_the_cache(env, fake):
    _write(env.cache / CANONICAL, BAD)
    install_weights(NAME, _write(env.tmp / "right.pth", GOOD))
    assert (env.cache / CANONICAL).read_bytes() == GOOD and _listing(env.cache) == [CANONICAL]


# --- download --------------------------------------------------------------------------------------


def test_download_from_a_local_http_server(env, fake, server):
    server.routes["/w.pth"] = ("ok", GOOD)
    dest = env.tmp / "dl"
    resolved = download_weights(NAME, url=server.base + "/w.pth", dest_dir=dest)
    assert resolved == ResolvedWeights(dest / CANONICAL, GOOD_SHA, "downloaded")
    assert (dest / CANONICAL).read_bytes() == GOOD
    assert _listing(dest) == [CANONICAL]


def test_download_from_a_file_url_into_the_cache(env, fake):
    source = _write(env.tmp / "mirror" / "w.pth", GOOD)
    resolved = download_weights(NAME, url=source.as_uri())
    assert resolved == ResolvedWeights(env.cache / CANONICAL, GOOD_SHA, "downloaded")
    assert (env.cache / CANONICAL).read_bytes() == GOOD and _listing(env.cache) == [CANONICAL]


def test_full_sha256_spec_downloads_and_verifies(env, fake, server):
    _with_url(server.base + "/w.pth", sha256=GOOD_SHA)
    server.routes["/w.pth"] = ("ok", GOOD)
    assert download_weights(NAME).sha256 == GOOD_SHA


@pytest.mark.parametrize("case", ["truncated", "wrong-hash", "http-404", "missing-file-url"])
@pytest.mark.parametrize("existing", [False, True])
def test_failed_download_leaves_no_file(env, fake, server, case, existing):
    dest = env.tmp / "dl"
    if existing:  # a good file already there must survive a failed download byte for byte
        _write(dest / CANONICAL, GOOD)
    server.routes["/short.pth"] = ("truncate", GOOD)
    server.routes["/wrong.pth"] = ("ok", BAD)
    url = {
        "truncated": server.base + "/short.pth",
        "wrong-hash": server.base + "/wrong.pth",
        "http-404": server.base + "/absent.pth",
        "missing-file-url": (env.tmp / "absent.pth").as_uri(),
    }[case]
    expected = {"truncated": f"after {SIZE // 2} of {SIZE} bytes", "wrong-hash": f"sha256 {BAD_SHA}",
                "http-404": "HTTP 404", "missing-file-url": "No such file"}[case]
    with pytest.raises(MissingWeightsError) as info:
        download_weights(NAME, url=url, dest_dir=dest)
    assert info.value.exit_code == 3
    assert expected in str(info.value) and url in str(info.value) and "\n" not in str(info.value)
    assert _listing(dest) == ([CANONICAL] if existing else [])
    if existing:
        assert (dest / CANONICAL).read_bytes() == GOOD


def test_download_times_out(env, fake, server):
    server.routes["/slow.pth"] = ("stall", b"")
    dest = env.tmp / "dl"
    start = time.monotonic()
    with pytest.raises(MissingWeightsError, match="timed out"):
        download_weights(NAME, url=server.base + "/slow.pth", dest_dir=dest, timeout=0.3)
    assert time.monotonic() - start < 5
    assert _listing(dest) == []


def test_download_refuses_other_schemes_and_http_when_offline(env, fake, monkeypatch, tmp_path):
    with pytest.raises(BadInputError):
        download_weights(NAME, url="ftp://example.invalid/w.pth", dest_dir=tmp_path / "dl")
    monkeypatch.setenv("GANEVAL_OFFLINE", "1")
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("network used while offline"))
    with pytest.raises(MissingWeightsError, match="GANEVAL_OFFLINE"):
        download_weights(NAME, url="http://127.0.0.1:9/w.pth", dest_dir=tmp_path / "dl")
    assert _listing(tmp_path / "dl") == []


def test_resolve_downloads_once_then_finds_the_cache(env, fake, server):
    _with_url(server.base + "/w.pth")
    server.routes["/w.pth"] = ("ok", GOOD)
    assert resolve_weights(NAME) == ResolvedWeights(env.cache / CANONICAL, GOOD_SHA, "downloaded")
    del server.routes["/w.pth"]
    assert resolve_weights(NAME) == ResolvedWeights(env.cache / CANONICAL, GOOD_SHA, "cache")


# --- the missing-weights message -------------------------------------------------------------------


def _assert_missing_message(message: str, spec: WeightsSpec, env) -> None:
    assert "\n" not in message
    for part in (spec.filenames[0], f"`ganeval weights install {spec.name} FILE`", "$GANEVAL_WEIGHTS_DIR",
                 "--extractor fmnist-cnn", str(env.env_dir), str(env.cache), str(env.hub)):
        assert part in message, part
    if spec.url:
        assert spec.url in message


def test_offline_resolve_is_missing_weights_without_network(env, fake, monkeypatch):
    spec = _with_url("http://127.0.0.1:9/w.pth")
    monkeypatch.setenv("GANEVAL_OFFLINE", "1")
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("network used while offline"))
    for name, s in ((NAME, spec), ("inception", get_weights_spec("inception"))):
        with pytest.raises(MissingWeightsError) as info:
            resolve_weights(name)
        assert info.value.exit_code == 3
        _assert_missing_message(str(info.value), s, env)
        assert "GANEVAL_OFFLINE=1" in str(info.value)


def test_unreachable_url_is_missing_weights(env, fake):
    spec = _with_url(_closed_port_url())
    wrong = _write(env.hub / ALT, BAD)
    with pytest.warns(UnverifiedWeightsWarning), pytest.raises(MissingWeightsError) as info:
        resolve_weights(NAME)
    message = str(info.value)
    _assert_missing_message(message, spec, env)
    assert "download failed: Connection refused" in message and str(wrong) in message  # the rejected file is named
    assert _listing(env.cache) == []


def test_no_download_when_not_allowed(env, fake, monkeypatch):
    spec = _with_url("http://127.0.0.1:9/w.pth")
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("download not allowed"))
    with pytest.raises(MissingWeightsError) as info:
        resolve_weights(NAME, allow_download=False)
    _assert_missing_message(str(info.value), spec, env)


# --- status ----------------------------------------------------------------------------------------


def test_weights_status_reports_every_candidate(env, fake):
    wrong = _write(env.env_dir / CANONICAL, BAD)
    rows = {r["name"]: r for r in weights_status()}
    assert set(rows) == {"inception", NAME}
    row = rows[NAME]
    assert [(c["where"], c["path"]) for c in row["candidates"]] == [
        (where, str(d / fn)) for where, d in
        (("GANEVAL_WEIGHTS_DIR", env.env_dir), ("cache", env.cache), ("torch-hub", env.hub))
        for fn in (CANONICAL, ALT)
    ]
    assert (row["found"], row["verified"], row["where"], row["path"], row["sha256"]) == (
        True, False, "GANEVAL_WEIGHTS_DIR", str(wrong), BAD_SHA)
    assert [c["status"] for c in row["candidates"]][1:] == ["not present"] * 5

    right = _write(env.hub / ALT, GOOD)
    row = next(r for r in weights_status() if r["name"] == NAME)
    assert (row["found"], row["verified"], row["where"], row["path"], row["sha256"]) == (
        True, True, "torch-hub", str(right), GOOD_SHA)
    assert row["candidates"][0]["status"].startswith(f"unverified: sha256 {BAD_SHA}")
    assert row["expected_sha256"] == GOOD_SHA[:10] and row["offline_alternative"] == "fmnist-cnn"

    inception = rows["inception"]
    assert (inception["found"], inception["verified"], inception["path"], inception["sha256"]) == (
        False, False, None, None)
    assert inception["url"] == get_weights_spec("inception").url
    assert all(c["status"] == "not present" for c in inception["candidates"])
