"""DINOv2 (or any Hugging Face vision transformer) as a patch embedder: the CLS token.

Loading goes through `AutoModel.from_pretrained`, the same call for a hub id and for a local
folder, with `use_safetensors=True` and never remote code. The aliases are pinned to a Hub commit
(`REVISIONS`), so a changed upstream repository cannot change (or tamper with) the weights behind
`dinov2-small`; another hub id may name its commit as `org/name@<commit>`. The revision is part of
the embeddings cache key. Pre-processing is batched tensor
work: the whole patch is resized to the model's input size (no centre crop that would drop
the patch border), then ImageNet-normalised.
"""
from __future__ import annotations

import hashlib
import os
import socket
import threading
from urllib.parse import urlparse

import numpy as np

from .dependencies import importable, install_message
from .errors import DependencyError, EmbedderError, InvalidParameterError

ALIASES = {
    "dinov2-small": "facebook/dinov2-small",
    "dinov2-base": "facebook/dinov2-base",
    "dinov2-large": "facebook/dinov2-large",
}
# Hub commits of the aliases (each holds model.safetensors and config.json), as published on the model pages
# and used pinned by other projects; update together with a check that the embeddings are unchanged.
REVISIONS = {
    "facebook/dinov2-small": "ed25f3a31f01632728cabb09d1542f84ab7b0056",
    "facebook/dinov2-base": "f9e44c814b77203eaa57a6bdbbd535f21ede1415",
    "facebook/dinov2-large": "47b73eefe95e8d44ec3623f8890bd894b6ea2d6c",
}
INPUT_SIZE = 224  # the DINOv2 processors' crop size: 16×16 tokens of 14 px
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def missing_packages() -> list[str]:
    return [name for name in ("torch", "transformers") if not importable(name)]


def split_revision(model: str) -> tuple[str, str | None]:
    """(hub id or folder, pinned commit or None): an alias's pinned commit, `org/name@<commit>`, else None."""
    ref = ALIASES.get(model.strip(), model.strip())
    if not _looks_like_path(ref) and "@" in ref:
        ref, _, revision = ref.partition("@")
        return ref, revision or None
    return ref, REVISIONS.get(ref)


def resolve_device(device: str) -> str:
    import torch

    device = (device or "auto").strip().lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidParameterError(
            f"Device {device!r} was asked for, but torch sees no CUDA GPU here; use 'auto' or 'cpu'."
        )
    if device != "cpu" and not device.startswith("cuda"):
        raise InvalidParameterError(f"Unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'.")
    return device


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: bf16 matrix products run at twice the fp32 rate on these CPUs."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "")
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags.split()))


def resolve_precision(precision: str, device: str) -> str:
    if precision != "auto":
        return precision
    if device.startswith("cuda"):
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def _looks_like_path(ref: str) -> bool:
    """A hub id is `name` or `org/name`; anything else with a slash is meant as a folder."""
    return os.path.isabs(ref) or ref.startswith((".", "~")) or ref.count("/") > 1 or "\\" in ref


def _folder_fingerprint(folder: str) -> str:
    """Identity of a local model folder: its config and the size/mtime of its weight files."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name == "config.json":
            with open(path, "rb") as fh:
                digest.update(fh.read())
        elif name.endswith(".safetensors"):
            stat = os.stat(path)
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


class DinoEmbedder:
    """CLS token of the last hidden state, batched, on CPU or CUDA.

    The model is loaded on the first `embed` call, so a run served entirely from the
    embeddings cache never loads (or downloads) it.
    """

    def __init__(self, model: str, device: str = "auto", precision: str = "auto") -> None:
        missing = missing_packages()
        if missing:
            raise DependencyError(install_message([(name, f"embedder {model}") for name in missing]) +
                                  " Without them, use embedder 'descriptor' or mode 'masks_only'.")
        import torch

        self._torch = torch
        model_id, self.revision = split_revision(model)
        self.model_id = os.path.expanduser(model_id)
        if _looks_like_path(self.model_id) and not os.path.isdir(self.model_id):
            raise EmbedderError(
                f"The model folder {self.model_id!r} does not exist. Give a folder written by "
                "`save_pretrained`/`snapshot_download` (with config.json and model.safetensors), "
                "an alias (dinov2-small, dinov2-base, dinov2-large) or a Hugging Face model id."
            )
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        identity = (
            f"local:{os.path.abspath(self.model_id)}#{_folder_fingerprint(self.model_id)}"
            if os.path.isdir(self.model_id)
            else f"{self.model_id}@{self.revision or 'default-branch'}"
        )
        self.key = f"{identity}|{self.precision}|{INPUT_SIZE}px-bicubic-aa|imagenet"
        self._model = None
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)

    @property
    def model(self):
        if self._model is None:
            self._model = load_model(self.model_id, None if os.path.isdir(self.model_id) else self.revision)
            self._model = self._model.eval().to(self.device)
        return self._model

    def model_input(self, unit: np.ndarray):
        """(B, 3, H, W) values in 0..1 → normalised (B, 3, 224, 224) tensor on the device."""
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(unit, dtype=np.float32)).to(self.device)
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = torch.nn.functional.interpolate(
                x, size=(INPUT_SIZE, INPUT_SIZE), mode="bicubic", antialias=True, align_corners=False
            ).clamp_(0.0, 1.0)
        return (x - self._mean) / self._std

    def embed(self, unit: np.ndarray) -> np.ndarray:
        torch = self._torch
        model = self.model
        x = self.model_input(unit)
        with torch.inference_mode():
            if self.precision == "bf16":
                device_type = "cuda" if self.device.startswith("cuda") else "cpu"
                with torch.autocast(device_type, dtype=torch.bfloat16):
                    cls = model(pixel_values=x).last_hidden_state[:, 0]
            else:
                cls = model(pixel_values=x).last_hidden_state[:, 0]
        return cls.float().cpu().numpy()


HUB_CHECK_SECONDS = 3.0  # how long the quick check waits for the Hub before calling the machine offline
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def hub_unreachable(timeout: float = HUB_CHECK_SECONDS) -> str:
    """'' when the Hugging Face Hub (or the proxy in front of it) answers within `timeout` seconds, else why not.

    Without this check a machine without internet waits through the Hub client's retries (about 26 s measured
    here) before failing; the check costs one TCP connection (name lookup included, bounded by `timeout`).
    """
    for name in OFFLINE_VARIABLES:
        if os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{name} is set"
    proxy = next((os.environ[k] for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy") if os.environ.get(k)),
                 "")
    target = urlparse(proxy if "://" in proxy else f"http://{proxy}") if proxy else urlparse(
        os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = target.hostname or "huggingface.co"
    port = target.port or (443 if target.scheme == "https" else 80)
    outcome: dict = {}

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome["ok"] = True
        except OSError as exc:
            outcome["error"] = exc

    probe = threading.Thread(target=connect, name="hub-check", daemon=True)  # a name lookup ignores socket timeouts
    probe.start()
    probe.join(timeout)
    if outcome.get("ok"):
        return ""
    error = outcome.get("error")
    return f"{host} cannot be reached ({error.strerror or error if error else f'no answer in {timeout:g} s'})"


def _clause(exc: BaseException) -> str:
    """An exception's message as a clause: without the final full stop the next sentence would double."""
    return " ".join(str(exc).split()).rstrip(" .")


def load_model(model_id: str, revision: str | None = None):
    """`AutoModel.from_pretrained` for a hub id (at `revision`: the aliases' pinned commit) or a local folder;
    safetensors only, no remote code. Offline (or with the Hub out of reach) a hub id is looked up in the local
    Hugging Face cache only, and fails at once when it is not there."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    offline = "" if os.path.isdir(model_id) else hub_unreachable()
    how_to = ("On a machine without internet, download it once elsewhere with "
              f"`python -c \"from huggingface_hub import snapshot_download; snapshot_download('{model_id}', "
              f"revision='{revision or 'main'}', local_dir='dinov2-model')\"`, copy the folder over and give its "
              "path as the embedder, or use the weights-free embedder 'descriptor'.")
    try:
        return AutoModel.from_pretrained(model_id, revision=revision, use_safetensors=True, trust_remote_code=False,
                                         **({"local_files_only": True} if offline else {}))
    except (OSError, ValueError) as exc:
        if offline:
            raise EmbedderError(
                f"Cannot load the model {model_id!r}: it is not in the local Hugging Face cache "
                f"(~/.cache/huggingface) and cannot be downloaded: {offline}. {how_to}") from exc
        raise EmbedderError(
            f"Cannot load the model {model_id!r}: {_clause(exc)}. The first run with a hub id downloads the "
            f"weights from Hugging Face (dinov2-small is about 90 MB) into ~/.cache/huggingface. {how_to}") from exc
