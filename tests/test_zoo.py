"""The model library's table: complete, consistent, and pointing at registered architectures."""

from __future__ import annotations

from uprez.core import archs
from uprez.core.models import zoo

SYSTEMS = {"neural-enhance", "krasserm super-resolution", "idealo ISR", "ESRGAN", "Real-ESRGAN", "EDSR-PyTorch"}


def test_ids_are_unique_and_every_system_is_there() -> None:
    ids = [model.id for model in zoo.MODELS]
    assert len(ids) == len(set(ids))
    assert {model.system for model in zoo.MODELS} == SYSTEMS


def test_every_model_names_a_registered_architecture_and_a_source() -> None:
    registered = {arch.id for arch in archs.all_architectures()}
    for model in zoo.MODELS:
        assert model.arch in registered, model.id
        assert model.download or model.page or model.ncnn, model.id
        assert model.license and model.purpose and model.scale >= 1, model.id
        if model.download:
            assert model.download.url.startswith("https://"), model.id
            sha = model.download.sha256
            assert sha is None or (len(sha) in (8, 64) and int(sha, 16) >= 0), model.id


def test_one_file_name_means_one_download() -> None:
    by_name: dict[str, set[str]] = {}
    for model in zoo.MODELS:
        if model.download:
            by_name.setdefault(model.file_name, set()).add(model.download.url)
    assert all(len(urls) == 1 for urls in by_name.values())


def test_archive_models_name_their_member() -> None:
    for model in zoo.MODELS:
        if model.download and model.download.url.endswith(".tar.gz"):
            assert model.download.member and model.download.member.endswith(".h5"), model.id
            assert model.file_name.endswith(".h5")
