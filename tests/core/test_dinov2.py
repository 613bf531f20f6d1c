"""The DINOv2 embedder through the real `from_pretrained` path, with a tiny random model."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from balance_core import dinov2
from balance_core.config import BalanceConfig
from balance_core.dinov2 import INPUT_SIZE, DinoEmbedder
from balance_core.errors import EmbedderError, InvalidParameterError
from balance_core.pipeline import build_balanced_dataset


def reference_cls(folder, unit):
    """The plain transformers way: normalise, forward in fp32, CLS of the last hidden state."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(folder).eval()
    mean = torch.tensor(dinov2.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(dinov2.IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        return model(pixel_values=(torch.from_numpy(unit) - mean) / std).last_hidden_state[:, 0].numpy()


def test_fp32_embeddings_equal_the_plain_transformers_forward(tiny_dinov2):
    unit = np.random.default_rng(0).random((3, 3, INPUT_SIZE, INPUT_SIZE), dtype=np.float32)
    embedder = DinoEmbedder(tiny_dinov2, device="cpu", precision="fp32")
    out = embedder.embed(unit)
    assert out.shape == (3, 32) and out.dtype == np.float32
    np.testing.assert_allclose(out, reference_cls(tiny_dinov2, unit), atol=1e-5)


def test_bf16_is_close_to_fp32(tiny_dinov2):
    unit = np.random.default_rng(1).random((4, 3, INPUT_SIZE, INPUT_SIZE), dtype=np.float32)
    a = DinoEmbedder(tiny_dinov2, "cpu", "fp32").embed(unit)
    b = DinoEmbedder(tiny_dinov2, "cpu", "bf16").embed(unit)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.99


def test_whole_patch_is_resized_not_cropped(tiny_dinov2):
    embedder = DinoEmbedder(tiny_dinov2, "cpu", "fp32")
    patch = np.zeros((1, 3, 64, 64), np.float32)
    patch[..., :, :4] = 1.0  # a bright left border column
    x = embedder.model_input(patch)
    assert tuple(x.shape) == (1, 3, INPUT_SIZE, INPUT_SIZE)
    mean, std = np.array(dinov2.IMAGENET_MEAN), np.array(dinov2.IMAGENET_STD)
    border = x[0, :, INPUT_SIZE // 2, 0].numpy() * std + mean
    assert border.min() > 0.9  # the border survived: no centre crop


def test_cache_key_names_model_precision_and_changes_when_the_folder_changes(tiny_dinov2, tmp_path):
    a = DinoEmbedder(tiny_dinov2, "cpu", "fp32")
    assert a.key != DinoEmbedder(tiny_dinov2, "cpu", "bf16").key
    from transformers import Dinov2Model

    copy = tmp_path / "copy"
    Dinov2Model.from_pretrained(tiny_dinov2).save_pretrained(copy)
    assert DinoEmbedder(str(copy), "cpu", "fp32").key != a.key
    assert DinoEmbedder("dinov2-base", "cpu", "fp32").key.startswith(
        "facebook/dinov2-base@f9e44c814b77203eaa57a6bdbbd535f21ede1415|fp32|")
    assert DinoEmbedder("org/model@0123abcd", "cpu", "fp32").key.startswith("org/model@0123abcd|fp32|")
    assert DinoEmbedder("org/model", "cpu", "fp32").key.startswith("org/model@default-branch|fp32|")


@pytest.mark.parametrize("alias", sorted(dinov2.ALIASES))
def test_aliases_load_their_pinned_commit(alias, monkeypatch):
    """Every alias is pinned to a 40-hex Hub commit (bandit B615), and that commit reaches from_pretrained."""
    import transformers

    seen = {}

    def fake(model_id, **kwargs):
        seen.update(kwargs, model_id=model_id)
        raise OSError("offline")

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", fake)
    revision = dinov2.REVISIONS[dinov2.ALIASES[alias]]
    assert len(revision) == 40 and all(c in "0123456789abcdef" for c in revision)
    with pytest.raises(EmbedderError, match=f"revision='{revision}'"):
        DinoEmbedder(alias, "cpu", "fp32").model
    seen.pop("local_files_only", None)  # set when the Hub cannot be reached (this machine): the cache only
    assert seen == dict(model_id=dinov2.ALIASES[alias], revision=revision, use_safetensors=True,
                        trust_remote_code=False)


def test_missing_model_folder_is_explained():
    with pytest.raises(EmbedderError, match="model folder '/nonexistent/dinov2' does not exist"):
        DinoEmbedder("/nonexistent/dinov2", "cpu")


def test_folder_without_safetensors_is_refused(tiny_dinov2, tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_bytes(open(os.path.join(tiny_dinov2, "config.json"), "rb").read())
    with pytest.raises(EmbedderError, match="Cannot load the model.*snapshot_download"):
        DinoEmbedder(str(folder), "cpu").embed(np.zeros((1, 3, 14, 14), np.float32))


def test_unavailable_cuda_and_unknown_device_are_refused():
    if not torch.cuda.is_available():
        with pytest.raises(InvalidParameterError, match="no CUDA GPU"):
            dinov2.resolve_device("cuda")
    with pytest.raises(InvalidParameterError, match="Unknown device"):
        dinov2.resolve_device("tpu")
    assert dinov2.resolve_device("auto") in ("cpu", "cuda")


def test_missing_torch_is_explained():
    """In a Python where torch and transformers truly cannot be imported (tests/stock_qgis hides them)."""
    repo = Path(__file__).resolve().parents[2]
    code = ("import importlib.util, sys; assert importlib.util.find_spec('torch') is None\n"
            "from balance_core.dinov2 import DinoEmbedder\n"
            "from balance_core.errors import DependencyError\n"
            "try:\n    DinoEmbedder('dinov2-small')\nexcept DependencyError as exc:\n    print(exc)\n"
            "print('torch imported:', 'torch' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo / "tests" / "stock_qgis"), str(repo)]),
               STOCK_QGIS_BLOCK="torch,transformers")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Missing Python package(s)" in done.stdout and "torch (for embedder dinov2-small)" in done.stdout
    assert "Install dependencies" in done.stdout and "pip install torch transformers" in done.stdout
    assert "embedder 'descriptor'" in done.stdout and "torch imported: False" in done.stdout


def test_end_to_end_with_the_tiny_model(tiny_dinov2, data_dir, tmp_path):
    config = BalanceConfig(patch_size=128, mode="both", embedder=tiny_dinov2, device="cpu", batch_size=16,
                           embeddings_cache=str(tmp_path / "emb.parquet"))
    table, _ = build_balanced_dataset([(str(data_dir / "quebec" / "tiled_image_1.tif"),
                                       str(data_dir / "quebec" / "tiled_label_1_nodata_unset.tif"))], config)
    included = ~table["excluded"]
    assert table["embedding"].shape == (16, 32)
    assert np.all(np.isfinite(table["uniqueness_score"][included]))
    assert np.all(table["sampler_weight"][included] > 0)
