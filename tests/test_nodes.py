"""uprez's ComfyUI nodes without ComfyUI: loaded as ComfyUI loads a pack, run from API-format
workflows by tests/comfy_executor.py. The real ComfyUI check is in examples/ and the notes."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from comfy_executor import ExecutionError, Executor, ValidationError, load_pack
from PIL import Image
from support import DATA, record_keyword, seeded_weights

from uprez.core.engine.precision import cpu_has_native_bf16

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = Path(__file__).parent / "workflows"
FAST = "uprez: realesr-animevideov3-x4"


class LoadImage:
    """ComfyUI's LoadImage semantics (nodes.py): IMAGE [1,H,W,3], MASK = 1 - alpha or zeros(64, 64)."""

    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802
        return {"required": {"image": ("STRING", {})}}

    def load(self, image: str) -> tuple:
        with Image.open(image) as opened:
            rgba = np.asarray(opened.convert("RGBA"), dtype=np.float32) / 255
            has_alpha = "A" in opened.getbands()
        pixels = torch.from_numpy(rgba[None, :, :, :3].copy())
        mask = 1.0 - torch.from_numpy(rgba[None, :, :, 3].copy()) if has_alpha else torch.zeros((1, 64, 64))
        return pixels, mask


class RepeatBatch:
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "repeat"

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802
        return {"required": {"image": ("IMAGE", {}), "amount": ("INT", {"min": 1, "max": 64})}}

    def repeat(self, image: torch.Tensor, amount: int) -> tuple:
        flipped = [image.flip(2) if i % 2 else image for i in range(amount)]  # not all equal
        return (torch.cat(flipped),)


class SaveImage:
    RETURN_TYPES = ()
    FUNCTION = "save"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802
        return {"required": {"images": ("IMAGE", {}), "filename_prefix": ("STRING", {})}}

    def save(self, images: torch.Tensor, filename_prefix: str) -> dict:
        paths = []
        for index, image in enumerate(images):
            path = Path(f"{filename_prefix}_{index:05}_.png")
            Image.fromarray(np.clip(255.0 * image.numpy(), 0, 255).astype(np.uint8)).save(path)
            paths.append(str(path))
        return {"ui": {"images": paths}, "result": ()}


class FakeDescriptor:
    """The parts of spandrel's ImageModelDescriptor that a node can touch (ComfyUI's UPSCALE_MODEL)."""

    class _Arch:
        def __init__(self, name: str) -> None:
            self.name = name

    def __init__(self, model: torch.nn.Module, scale: int, name: str) -> None:
        self.model, self.scale, self.architecture = model, scale, self._Arch(name)
        self.input_channels = self.output_channels = 3
        self.supports_half = self.supports_bfloat16 = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).clamp_(0, 1)


class NearestThenConv(torch.nn.Module):
    """An architecture uprez does not know: 2x nearest, then a 3x3 conv."""

    def __init__(self) -> None:
        super().__init__()
        self.smooth = torch.nn.Conv2d(3, 3, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.smooth(torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest"))


class LoadFakeUpscaleModel:
    """Stands in for ComfyUI's UpscaleModelLoader: 'compact' is a known architecture, 'other' is not."""

    RETURN_TYPES = ("UPSCALE_MODEL",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802
        return {"required": {"model_name": (["compact", "other"], {})}}

    def load(self, model_name: str) -> tuple:
        from uprez.core.archs import get

        if model_name == "compact":
            net = seeded_weights(get("srvgg").module(num_features=8, num_conv=2, upscale=4), 5)
            return (FakeDescriptor(net, 4, "Compact"),)
        return (FakeDescriptor(seeded_weights(NearestThenConv(), 6), 2, "Mystery"),)


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory):
    """The repository dropped into custom_nodes/ under an unusual folder name."""
    custom_nodes = tmp_path_factory.mktemp("custom_nodes")
    folder = custom_nodes / "ComfyUI-uprez.dev"
    folder.symlink_to(ROOT, target_is_directory=True)
    return load_pack(folder)


@pytest.fixture
def executor(pack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ncnn_models: Path) -> Executor:
    monkeypatch.chdir(tmp_path)
    builtins = {c.__name__: c for c in (LoadImage, RepeatBatch, SaveImage, LoadFakeUpscaleModel)}
    return Executor(pack.NODE_CLASS_MAPPINGS, builtins)


def workflow(name: str, **inputs: str) -> dict:
    prompt = json.loads((WORKFLOWS / f"{name}.json").read_text())
    for key, value in inputs.items():
        node, field = key.split("__")
        prompt[node]["inputs"][field] = value
    return prompt


def test_pack_loads_under_any_folder_name_without_comfyui(pack) -> None:
    assert set(pack.NODE_CLASS_MAPPINGS) == {"UprezLoadModel", "UprezUpscale", "UprezUpscaleToSize"}
    assert pack.__name__.endswith("ComfyUI-uprez_x_dev")
    assert not any(name == "comfy" or name.startswith("comfy.") for name in sys.modules)
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["UprezUpscale"] == "Upscale Image (uprez)"


def test_node_classes_follow_comfyui_conventions(pack) -> None:
    for cls in pack.NODE_CLASS_MAPPINGS.values():
        assert cls.CATEGORY == "uprez" and cls.DESCRIPTION and callable(getattr(cls, cls.FUNCTION))
        assert len(cls.OUTPUT_TOOLTIPS) == len(cls.RETURN_TYPES)
        for section in cls.INPUT_TYPES().values():
            for name, declared in section.items():
                assert declared[1].get("tooltip"), f"{cls.__name__}.{name} has no tooltip"


def test_load_upscale_save(executor: Executor) -> None:
    results = executor.run(workflow("upscale", **{"1__image": str(DATA / "coffee_cup.png")}))
    image, mask = results["3"]
    assert image.shape == (1, 256, 256, 3) and image.dtype == torch.float32
    assert 0 <= float(image.min()) and float(image.max()) <= 1
    assert mask.shape == (1, 256, 256) and float(mask.abs().max()) == 0
    assert Image.open(results_path(results)).size == (256, 256)


def results_path(results: dict) -> str:
    return next(iter(path for path in Path(".").glob("uprez_*_.png")))


def test_batches_match_single_images(executor: Executor) -> None:
    prompt = workflow("upscale_batch", **{"1__image": str(DATA / "chelsea_cat.jpg")})
    batch, _ = executor.run(prompt)["3"]
    assert batch.shape == (3, 128, 192, 3)
    single, _ = executor.run(workflow("upscale", **{"1__image": str(DATA / "chelsea_cat.jpg")}))["3"]
    # Not to the last bit: the batch workflow runs 48-px tiles, the single one the whole image,
    # and the CPU's Winograd kernel rounds by where its 6x6 tiles fall (measured: 2.8e-6 apart).
    assert torch.allclose(batch[0], single[0], atol=5e-5) and torch.allclose(batch[2], single[0], atol=5e-5)
    assert not torch.allclose(batch[1], single[0], atol=1e-2)  # the flipped copy is its own image


def test_mask_is_treated_as_alpha_and_upscaled(executor: Executor, tmp_path: Path) -> None:
    rgba = np.asarray(Image.open(DATA / "coffee_cup.png").convert("RGBA")).copy()
    rgba[:, :20, 3] = 0
    Image.fromarray(rgba[:37, :53]).save(tmp_path / "odd.png")  # odd size, transparent left part
    prompt = workflow("upscale_masked", **{"1__image": str(tmp_path / "odd.png")})
    image, mask = executor.run(prompt)["3"]
    assert image.shape == (1, 74, 106, 3) and mask.shape == (1, 74, 106)
    # ComfyUI's mask is 1 where transparent: the left 20 columns, 40 after upscaling by 2.
    assert float(mask[0, :, :36].min()) > 0.99 and float(mask[0, :, 44:].abs().max()) < 0.01


@pytest.mark.parametrize("scale", [1.5, 3.0, 8.0])
def test_any_scale_on_odd_sizes(executor: Executor, tmp_path: Path, scale: float) -> None:
    Image.open(DATA / "coffee_cup.png").crop((0, 0, 23, 17)).save(tmp_path / "tiny.png")
    prompt = workflow("upscale", **{"1__image": str(tmp_path / "tiny.png")})
    prompt["3"]["inputs"]["scale"] = scale
    image, _ = executor.run(prompt)["3"]
    assert image.shape == (1, round(17 * scale), round(23 * scale), 3)


@pytest.mark.parametrize("precision", ["auto", "fp32", "fp16", "bf16"])
def test_every_precision_runs(executor: Executor, precision: str, caplog: pytest.LogCaptureFixture) -> None:
    prompt = workflow("upscale", **{"1__image": str(DATA / "chelsea_cat.jpg")})
    prompt["3"]["inputs"]["precision"] = precision
    reference = workflow("upscale", **{"1__image": str(DATA / "chelsea_cat.jpg")})
    with caplog.at_level(logging.WARNING, logger="uprez"):
        image, _ = executor.run(prompt)["3"]
    reference["3"]["inputs"]["precision"] = "fp32"
    expected, _ = executor.run(reference)["3"]
    if torch.cuda.is_available():
        assert (image - expected).abs().mean() < 2e-3  # half precision on the GPU
    elif precision == "bf16" and cpu_has_native_bf16():
        assert 0 < (image - expected).abs().mean() < 2e-3  # AMX or AVX512-BF16: it runs in bf16
        assert "fp32" not in caplog.text
    else:
        assert torch.equal(image, expected)  # other CPUs run fp16 and bf16 in fp32, and say so
        if precision in ("fp16", "bf16"):
            assert "running in fp32" in caplog.text


def test_to_size_by_dimensions_and_megapixels(executor: Executor) -> None:
    prompt = workflow("upscale_to_size", **{"1__image": str(DATA / "chelsea_cat.jpg")})
    image, mask = executor.run(prompt)["3"]
    assert image.shape == (1, 200, 300, 3) and mask.shape == (1, 200, 300)  # width 300, height follows
    prompt["3"]["inputs"].update(mode="megapixels", megapixels=0.1)
    image, _ = executor.run(prompt)["3"]
    assert abs(image.shape[1] * image.shape[2] - 100_000) < 1000
    assert abs(image.shape[2] / image.shape[1] - 1.5) < 0.02


@pytest.mark.parametrize("which", ["compact", "other"])
def test_comfyui_upscale_model_input(executor: Executor, which: str) -> None:
    prompt = workflow("upscale_comfy_model", **{"1__image": str(DATA / "chelsea_cat.jpg"), "2__model_name": which})
    prompt["3"]["inputs"].update(precision="fp32", border=10)  # realesrgan-ncnn-vulkan's mirrored border
    image, _ = executor.run(prompt)["3"]
    descriptor = LoadFakeUpscaleModel().load(which)[0]
    source = torch.from_numpy(np.asarray(Image.open(DATA / "chelsea_cat.jpg"), dtype=np.float32) / 255)
    with torch.inference_mode():
        padded = torch.nn.functional.pad(source.permute(2, 0, 1)[None], (10,) * 4, mode="reflect")
        direct = descriptor(padded)[0].permute(1, 2, 0)
    s = descriptor.scale
    direct = direct[10 * s : -10 * s, 10 * s : -10 * s]
    assert image.shape[1:3] == direct.shape[:2]
    assert (image[0] - direct).abs().max() < 1e-4


@pytest.mark.parametrize("node", ["3", "size"])
def test_compile_reaches_the_engine_and_changes_nothing_on_the_cpu(executor: Executor, pack, monkeypatch, node) -> None:
    asked = record_keyword(monkeypatch, sys.modules[f"{pack.__name__}.nodes._run"].Upscaler, "compile")
    prompt = workflow("upscale_comfy_model", **{"1__image": str(DATA / "chelsea_cat.jpg"), "2__model_name": "compact"})
    if node == "size":
        prompt["3"]["class_type"] = "UprezUpscaleToSize"
        prompt["3"]["inputs"].pop("scale")
        prompt["3"]["inputs"].update(mode="dimensions", width=600, height=0, megapixels=1.0)
    prompt["3"]["inputs"].update(precision="fp32")
    plain, _ = executor.run(prompt)["3"]
    prompt["3"]["inputs"]["compile"] = True
    compiled, _ = executor.run(prompt)["3"]
    assert asked == [False, True]  # a separate Upscaler for each setting
    assert torch.equal(compiled, plain)
    prompt["3"]["inputs"]["compile"] = "yes"
    with pytest.raises(ValidationError, match="compile must be true or false"):
        executor.run(prompt)


def test_missing_and_unsupported_models_are_clear_errors(executor: Executor, tmp_path: Path, monkeypatch) -> None:
    models = tmp_path / "upscale_models"
    models.mkdir()
    torch.save({"fc.weight": torch.zeros(2, 2)}, models / "classifier.pth")
    monkeypatch.setenv("UPREZ_COMFY_MODEL_DIRS", str(models))
    with pytest.raises(ExecutionError) as caught:
        prompt = workflow("upscale", **{"1__image": str(DATA / "chelsea_cat.jpg"), "2__model_name": "classifier.pth"})
        executor.run(prompt)
    assert caught.value.node_id == "2" and "no known architecture" in caught.value.message
    assert "\n" not in caught.value.message
    (models / "classifier.pth").unlink()
    with pytest.raises(ValidationError, match="value not in list"):
        executor.run(workflow("upscale", **{"1__image": str(DATA / "chelsea_cat.jpg"), "2__model_name": "gone.pth"}))


def test_model_names_cannot_escape_the_model_folders(pack) -> None:
    models = sys.modules[pack.__name__ + ".nodes._models"]
    for name in ("../../etc/passwd", "/etc/passwd", "..\\secrets.pth", "C:\\x.pth"):
        with pytest.raises(Exception, match="must be a file inside"):
            models.load_named(name)


def test_out_of_range_inputs_fail_validation(executor: Executor) -> None:
    prompt = workflow("upscale", **{"1__image": str(DATA / "chelsea_cat.jpg")})
    prompt["3"]["inputs"]["scale"] = 100.0
    with pytest.raises(ValidationError, match="outside"):
        executor.run(prompt)


def test_progress_and_interrupt_go_through_comfyui(pack, executor: Executor, monkeypatch) -> None:
    comfy = sys.modules[pack.__name__ + ".nodes._comfy"]
    updates: list[tuple[int, int]] = []
    calls = {"free": 0, "empty": 0, "checks": 0}

    class Bar:
        def __init__(self, total: int) -> None:
            pass

        def update_absolute(self, value: int, total: int | None = None) -> None:
            updates.append((value, total))

    class Interrupted(Exception):
        pass

    class ModelManagement:
        @staticmethod
        def get_torch_device() -> torch.device:
            return torch.device("cpu")

        @staticmethod
        def soft_empty_cache() -> None:
            calls["empty"] += 1

        @staticmethod
        def throw_exception_if_processing_interrupted() -> None:
            calls["checks"] += 1
            if calls["checks"] > 3:
                raise Interrupted("Processing interrupted")

    monkeypatch.setattr(comfy, "comfy_utils", type("utils", (), {"ProgressBar": Bar}))
    monkeypatch.setattr(comfy, "model_management", ModelManagement)
    prompt = workflow("upscale", **{"1__image": str(DATA / "coffee_cup.png")})
    prompt["3"]["inputs"]["tile"] = 32
    with pytest.raises(ExecutionError) as caught:
        executor.run(prompt)
    assert isinstance(caught.value.error, Interrupted)
    assert calls["empty"] == 1  # memory tidied even when interrupted
    calls["checks"] = -10_000
    executor.run(prompt)
    assert updates and updates[-1] == (16, 16)  # 128 px in 32-px tiles, one step per tile


def test_registry_metadata_and_requirements() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["name"] == "uprez" and "comfyui" not in project["project"]["name"].lower()
    assert project["tool"]["comfy"]["PublisherId"] and project["tool"]["comfy"]["DisplayName"]
    assert project["project"]["urls"]["Repository"].startswith("https://")
    wanted = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line.strip()
              and not line.lstrip().startswith("#")]  # fmt: skip
    assert wanted == []  # torch, numpy, Pillow and safetensors come with ComfyUI


def test_default_border_is_none_the_network_on_the_bare_image(executor: Executor) -> None:
    prompt = workflow("upscale_comfy_model", **{"1__image": str(DATA / "chelsea_cat.jpg"), "2__model_name": "compact"})
    prompt["3"]["inputs"].pop("border", None)  # the widget's default, as a new node gets it
    prompt["3"]["inputs"].update(precision="fp32")
    image, _ = executor.run(prompt)["3"]
    descriptor = LoadFakeUpscaleModel().load("compact")[0]
    source = torch.from_numpy(np.asarray(Image.open(DATA / "chelsea_cat.jpg"), dtype=np.float32) / 255)
    with torch.inference_mode():
        direct = descriptor(source.permute(2, 0, 1)[None])[0].permute(1, 2, 0)
    assert (image[0] - direct).abs().max() < 1e-4
