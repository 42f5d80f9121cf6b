"""Galaxy encoders by name, and the Dirichlet head that predicts vote fractions.

Model names, as timm's registry reads them:

- any timm name (``efficientnet_b0``), or a Hugging Face Hub name
  (``hf_hub:mwalmsley/zoobot-encoder-convnext_nano``), loaded through timm and the
  Hugging Face cache, so a model downloaded once works offline;
- ``zoobot:<arch>``, shorthand for ``hf_hub:mwalmsley/zoobot-encoder-<arch>``;
- a local folder with ``config.json`` and weights: timm's Hub layout (as written
  by ``timm.models.save_for_hf``), or raregal's own layout, which adds a Dirichlet
  head and its question/answer schema (``"raregal"`` in config.json);
- a weights file (``.safetensors``, ``.pth``, ``.pt``, ``.bin``) with ``arch``;
- nothing, or ``default``: raregal's bundled model (:data:`DEFAULT_MODEL`), trained
  on Galaxy Zoo 2 votes, which works offline.

Zoobot's Hub encoders have no morphology head; such models give representations
only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from raregal.core import defaults
from raregal.core.errors import InputError, first_line
from raregal.io.output import write_json
from raregal.io.schemas import Schema

ZOOBOT_HUB = "hf_hub:mwalmsley/zoobot-encoder-"
#: raregal's bundled default model (see its MODEL_CARD.md), used when none is named.
DEFAULT_MODEL = Path(__file__).parents[1] / "data" / "default-model"
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
RAREGAL_WEIGHTS = "model.safetensors"


class DirichletHead(nn.Module):
    """Zoobot's head: dropout, linear, then sigmoid·100 + 1, one Dirichlet
    concentration per answer (docs/conventions.md, "Head")."""

    def __init__(self, in_features: int, n_answers: int, dropout: float = defaults.HEAD_DROPOUT):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_features, n_answers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(self.dropout(x))) * 100 + 1


def vote_fractions(concentrations: torch.Tensor, schema: Schema) -> torch.Tensor:
    """Per-question Dirichlet means: alpha_a / sum of alpha over the question.

    Parameters
    ----------
    concentrations : Tensor, shape (n, n_answers)
    schema : Schema

    Returns
    -------
    Tensor, shape (n, n_answers); the fractions of each question sum to 1.
    """
    out = torch.empty_like(concentrations)
    for part in schema.slices:
        alpha = concentrations[:, part]
        out[:, part] = alpha / alpha.sum(dim=1, keepdim=True)
    return out


@dataclass
class GalaxyModel:
    """An encoder, its preprocessing, and optionally a Dirichlet head.

    Attributes
    ----------
    encoder : torch.nn.Module
        Returns the pooled representation, shape (n, dim).
    name : str
        What the user asked for, for the manifest.
    dim : int
    input_size : int
    in_chans : int
        3, or 1 for Zoobot's greyscale encoders.
    head : DirichletHead, optional
    schema : Schema, optional
    crop_fraction : float
    """

    encoder: nn.Module
    name: str
    dim: int
    input_size: int = defaults.INPUT_SIZE
    in_chans: int = 3
    head: DirichletHead | None = None
    schema: Schema | None = None
    crop_fraction: float = defaults.CROP_FRACTION
    info: dict = field(default_factory=dict)

    def to(self, device) -> GalaxyModel:
        self.encoder.to(device)
        if self.head is not None:
            self.head.to(device)
        return self

    @torch.inference_mode()
    def predict(self, images: torch.Tensor, passes: int = defaults.PREDICTION_PASSES):
        """Representations and, with a head, vote fractions.

        The encoder runs once in eval mode; the head runs ``passes`` times with
        its dropout on and the fractions are averaged, as Zoobot does.

        Returns
        -------
        features : Tensor, shape (n, dim), float32
        fractions : Tensor, shape (n, n_answers), or None without a head
        """
        self.encoder.eval()
        features = self.encoder(images).float()
        if self.head is None:
            return features, None
        self.head.train()  # dropout on: the stochastic passes
        # In float32 even under bf16 autocast: sigmoid·100 + 1 in bf16 would cost
        # the fractions about a percent of precision.
        with torch.autocast(features.device.type, enabled=False):
            fractions = (
                sum(vote_fractions(self.head(features), self.schema) for _ in range(passes))
                / passes
            )
        return features, fractions


class Bottleneck(nn.Module):
    """A backbone's pooled vector mapped to ``dim`` bounded, batch-normalised dims.

    Linear -> BatchNorm1d -> tanh, after global pooling: every coordinate of the
    representation lies in (-1, 1), so no galaxy's vector can be thousands of
    times longer than the median -- which a bare linear map of an unnormalised
    pooled vector allows (the first bundled model's norms ran from 8 to
    22,695). The paper's EfficientNet ends the same way: a 128-channel head with
    batch norm and a bounded-slope activation before pooling.
    """

    def __init__(self, backbone: nn.Module, dim: int):
        super().__init__()
        self.backbone = backbone
        self.project = nn.Sequential(
            nn.Linear(pooled_dim(backbone), dim), nn.BatchNorm1d(dim), nn.Tanh()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.backbone(x))


def backbone_of(encoder: nn.Module) -> nn.Module:
    """The timm-like network inside an encoder (itself, without a :class:`Bottleneck`)."""
    return encoder.backbone if isinstance(encoder, Bottleneck) else encoder


class PlainCNN(nn.Module):
    """A plain convolutional network: a stride-2 conv3x3-BN-ReLU, then stages of
    conv3x3-BN-ReLU blocks, each stage halving the image (max-pool) and doubling
    the channels, then global average
    pooling. Follows timm's interface (``num_features``, ``forward_features``,
    ``forward_head``), so raregal treats it like any timm encoder.

    Parameters
    ----------
    widths : sequence of int
        Channels of each stage.
    depths : sequence of int
        conv-BN-ReLU blocks per stage.
    """

    def __init__(
        self,
        widths=(32, 64, 128, 256),
        depths=(1, 2, 2, 2),
        in_chans: int = 3,
        num_classes: int = 0,
    ):
        super().__init__()
        layers, channels = [], in_chans
        for stage, (width, depth) in enumerate(zip(widths, depths)):
            if stage:
                layers.append(nn.MaxPool2d(2))
            for block in range(depth):
                # The first convolution has stride 2: a quarter of the cost on CPUs.
                layers += [
                    nn.Conv2d(
                        channels, width, 3, stride=1 + (stage == block == 0), padding=1, bias=False
                    ),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                ]
                channels = width
        self.features = nn.Sequential(*layers)
        self.num_features = channels
        self.fc = nn.Linear(channels, num_classes) if num_classes else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3))
        return pooled if pre_logits else self.fc(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _small_resnet(**kwargs) -> nn.Module:
    """timm's ResNet with basic blocks, one per stage, at a quarter of ResNet-18's
    widths (32-256 channels): a small residual family for CPU training."""
    from timm.models.resnet import BasicBlock, ResNet

    return ResNet(
        block=BasicBlock,
        layers=(1, 1, 1, 1),
        channels=(32, 64, 128, 256),
        stem_width=16,
        stem_type="deep",
        **kwargs,
    )


#: raregal's own encoder families, by name, beside timm's registry.
ARCHITECTURES = {"raregal_cnn": PlainCNN, "raregal_resnet": _small_resnet}


def create_encoder(arch: str, **kwargs) -> nn.Module:
    """An untrained encoder by name: one of :data:`ARCHITECTURES` or any timm name."""
    if arch in ARCHITECTURES:
        kwargs.pop("pretrained", None)
        return ARCHITECTURES[arch](**kwargs)
    import timm

    return timm.create_model(arch, **kwargs)


def is_architecture(name) -> bool:
    """Whether :func:`create_encoder` knows ``name``."""
    import timm

    return isinstance(name, str) and (name in ARCHITECTURES or bool(timm.is_model(name)))


def pooled_dim(encoder: nn.Module) -> int:
    """Dims of a timm encoder's output with ``num_classes=0``: its head's hidden size
    where it has one (MobileNetV3's conv head), else ``num_features``."""
    return int(getattr(encoder, "head_hidden_size", None) or encoder.num_features)


def _unreachable(name: str, exc: Exception) -> InputError:
    reason = first_line(exc)
    return InputError(
        f"cannot load model '{name}' ({reason}). Without the Hub, download it once where "
        f"it is reachable (it is then read from the Hugging Face cache, HF_HOME), or point "
        f"--model at a local folder with config.json and weights "
        f"(timm.models.save_for_hf writes one)"
    )


def _from_timm(create_name: str, name: str, **kwargs) -> GalaxyModel:
    import timm

    try:
        encoder = timm.create_model(create_name, pretrained=True, num_classes=0, **kwargs)
    except (OSError, RuntimeError, ValueError) as exc:
        if isinstance(exc, RuntimeError) and "size mismatch" in str(exc):
            raise InputError(
                f"model '{name}': weights do not fit the architecture: {first_line(exc)}"
            ) from exc
        raise _unreachable(name, exc) from exc
    cfg = getattr(encoder, "pretrained_cfg", {}) or {}
    in_chans, height, _ = cfg.get("input_size", (3, defaults.INPUT_SIZE, defaults.INPUT_SIZE))
    return GalaxyModel(
        encoder=encoder,
        name=name,
        dim=pooled_dim(encoder),
        input_size=int(height),
        in_chans=int(in_chans),
    )


def _from_raregal_folder(folder: Path, config: dict) -> GalaxyModel:
    """raregal's layout: config.json {"architecture", "model_args", "raregal": {...}}
    and model.safetensors holding ``encoder.*`` and ``head.*`` tensors; with
    ``"bottleneck": D`` under "raregal", the encoder is a :class:`Bottleneck`."""
    from safetensors.torch import load_file

    meta = config["raregal"]
    # model_args may set num_classes: the first bundled model's bottleneck was a bare
    # linear map trained as timm's classifier; newer models have a Bottleneck.
    model_args = {"num_classes": 0, **config.get("model_args", {})}
    encoder = create_encoder(config["architecture"], pretrained=False, **model_args)
    if meta.get("bottleneck"):
        encoder = Bottleneck(encoder, meta["bottleneck"])
    dim = meta.get("bottleneck") or model_args["num_classes"] or pooled_dim(encoder)
    state = load_file(folder / RAREGAL_WEIGHTS)
    encoder.load_state_dict(
        {k[len("encoder.") :]: v for k, v in state.items() if k.startswith("encoder.")}
    )
    schema = head = None
    if meta.get("schema"):
        schema = Schema.from_dict(meta["schema"])
        head = DirichletHead(dim, len(schema.answers), meta.get("dropout", defaults.HEAD_DROPOUT))
        head.load_state_dict(
            {k[len("head.") :]: v for k, v in state.items() if k.startswith("head.")}
        )
    return GalaxyModel(
        encoder=encoder,
        name=str(folder),
        dim=dim,
        input_size=meta.get("input_size", defaults.INPUT_SIZE),
        in_chans=meta.get("in_chans", 3),
        head=head,
        schema=schema,
        crop_fraction=meta.get("crop_fraction", defaults.CROP_FRACTION),
        info={k: v for k, v in meta.items() if k != "schema"},
    )


def load_model(name: str | Path | None = None, *, arch: str | None = None) -> GalaxyModel:
    """Load a galaxy encoder (and head, if it has one) by name or path.

    Parameters
    ----------
    name : str or path, optional
        See the module docstring; None or "default" is the bundled default model.
    arch : str, optional
        The timm architecture of a bare weights file.

    Raises
    ------
    InputError
        Unknown names, unreachable Hub models that are not cached, weights that
        do not fit, and local paths that are not a model.
    """
    if name is None or str(name) == "default":
        if not (DEFAULT_MODEL / "config.json").is_file():
            raise InputError(
                "the bundled default model is missing from this install; name one with --model"
            )
        model = load_model(DEFAULT_MODEL)
        model.name = "default"
        return model
    name = str(name)
    path = Path(name).expanduser()
    if path.is_dir():
        config_file = path / "config.json"
        if not config_file.is_file():
            raise InputError(f"{path}: a model folder needs config.json and weights")
        config = json.loads(config_file.read_text())
        if "raregal" in config:
            return _from_raregal_folder(path, config)
        return _from_timm(f"local-dir:{path.resolve()}", name)
    if path.is_file():
        if not name.lower().endswith(WEIGHT_SUFFIXES):
            raise InputError(f"{path}: not a weights file ({', '.join(WEIGHT_SUFFIXES)})")
        if arch is None:
            raise InputError(f"{path}: a weights file needs its architecture: --arch NAME")
        return _from_timm(arch, name, pretrained_cfg_overlay={"file": str(path.resolve())})
    if name.startswith("zoobot:"):
        return _from_timm(ZOOBOT_HUB + name.split(":", 1)[1], name)
    if name.startswith(("hf_hub:", "hf-hub:")):
        return _from_timm(name, name)
    import timm

    if not timm.is_model(name):
        raise InputError(f"unknown model '{name}': not a file, folder, timm or Hub name")
    return _from_timm(name, name)


def save_model(
    model: GalaxyModel,
    folder: str | Path,
    *,
    architecture: str,
    model_args: dict | None = None,
    extra: dict | None = None,
) -> Path:
    """Write ``model`` in raregal's layout, which :func:`load_model` reads.

    ``config.json`` names the timm ``architecture`` and ``model_args`` needed to
    rebuild the encoder, and under ``"raregal"`` the preprocessing, the head's
    schema and anything in ``extra`` (a model card's numbers, say);
    ``model.safetensors`` holds ``encoder.*`` and ``head.*`` tensors.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        f"encoder.{k}": v.detach().contiguous().cpu() for k, v in model.encoder.state_dict().items()
    }
    meta = {
        "input_size": model.input_size,
        "in_chans": model.in_chans,
        "crop_fraction": model.crop_fraction,
        "dim": model.dim,
        "schema": model.schema.as_dict() if model.schema else None,
        **(extra or {}),
    }
    if isinstance(model.encoder, Bottleneck):
        meta["bottleneck"] = model.dim
    if model.head is not None:
        state.update(
            {f"head.{k}": v.detach().contiguous().cpu() for k, v in model.head.state_dict().items()}
        )
        meta["dropout"] = model.head.dropout.p
    save_file(state, folder / RAREGAL_WEIGHTS)
    config = {"architecture": architecture, "model_args": model_args or {}, "raregal": meta}
    write_json(folder / "config.json", config)  # strict JSON: a NaN val_loss is null
    return folder
