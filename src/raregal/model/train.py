"""Train a galaxy encoder with a D-dim bottleneck and a Dirichlet head on volunteer votes.

The paper retrained Zoobot with a 128-d representation "without any measurable
performance loss". Training here follows Zoobot: the loss is the
Dirichlet-multinomial negative log-likelihood of each question's vote counts,
summed over questions; questions nobody answered contribute nothing
(docs/conventions.md, "Training loss").

Votes come as counts (``{question}_{answer}`` columns, as Zoobot's training
tables) or, when only fractions exist, as fractions times a stated pseudo-count.
For Galaxy Zoo 2 / the Galaxy Challenge the ``ClassQ.A`` values are *cumulative*
-- the share of all volunteers who reached question Q and answered A -- so
``ClassQ.A × K`` is the expected number of such votes among K volunteers. That is
sound because the likelihood only needs counts in the right proportions with the
right total: each question is weighted by how many volunteers reached it, as real
counts would be, and K (about the number of GZ2 volunteers per galaxy) sets how
much one galaxy's votes are trusted.
"""

from __future__ import annotations

import csv
import pickle
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from raregal.core import defaults
from raregal.core.errors import InputError, first_line
from raregal.core.monitor import stderr_printer
from raregal.core.params import (
    BATCH_SIZE,
    CROP_FRACTION,
    FLAG,
    INPUT_SIZE,
    SEED,
    Each,
    Integral,
    Interval,
    Options,
    ParameterError,
    Real,
    Satisfies,
    validate,
)
from raregal.io.catalogue import check_ids, find_id_column, ids_as_strings, read_table
from raregal.io.output import prepare, write_json
from raregal.io.records import record_header
from raregal.io.schemas import SCHEMAS, Schema, get_schema, kaggle_column
from raregal.model.models import (
    Bottleneck,
    DirichletHead,
    GalaxyModel,
    create_encoder,
    is_architecture,
    pooled_dim,
    save_model,
)

#: :func:`train`'s parameters, checked before the labels are read.
TRAIN_CONSTRAINTS = {
    "schema": [Options(*SCHEMAS)],
    "questions": [
        Each(Satisfies(lambda q: isinstance(q, str) and q != "", "names")),
        Options(None),
    ],
    # raregal_cnn and raregal_resnet are accepted too (--help names them)
    "arch": [Satisfies(is_architecture, "a timm architecture (timm.list_models())")],
    # the paper's is 128, encoders' own widths at most 2,048
    "bottleneck": [Interval(Integral, 1, 8192), Options(None)],
    "input_size": [INPUT_SIZE],
    "crop_fraction": [CROP_FRACTION],
    "epochs": [Interval(Integral, 1, 10_000)],  # Zoobot trains for at most ~150
    "batch_size": [BATCH_SIZE],
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "pseudo_count": [Interval(Real, 0, None, closed="neither")],
    "val_fraction": [Interval(Real, 0, 1, closed="neither")],
    "seed": [SEED],
    "resume": [FLAG],
    "verbose": [FLAG],
}


@dataclass(frozen=True)
class TrainParams:
    arch: str
    bottleneck: int | None
    input_size: int
    crop_fraction: float
    epochs: int
    batch_size: int
    learning_rate: float
    pseudo_count: float
    val_fraction: float
    seed: int


def dirichlet_multinomial_nll(
    concentrations: torch.Tensor, counts: torch.Tensor, schema: Schema
) -> torch.Tensor:
    """Per-galaxy negative log-likelihood of the votes, summed over questions.

    Parameters
    ----------
    concentrations : Tensor, shape (n, n_answers)
        The head's Dirichlet concentrations (> 0).
    counts : Tensor, shape (n, n_answers)
        Vote counts (may be fractional).

    Returns
    -------
    Tensor, shape (n,)
        Without the multinomial coefficient, which does not depend on the model.
        A question with no votes contributes exactly 0.
    """
    total = torch.zeros(len(counts), dtype=concentrations.dtype, device=concentrations.device)
    for part in schema.slices:
        alpha, k = concentrations[:, part], counts[:, part]
        alpha_sum, n = alpha.sum(dim=1), k.sum(dim=1)
        log_p = (
            torch.lgamma(alpha_sum)
            - torch.lgamma(n + alpha_sum)
            + (torch.lgamma(k + alpha) - torch.lgamma(alpha)).sum(dim=1)
        )
        total = total - log_p
    return total


def vote_counts(
    table: pd.DataFrame, schema: Schema, pseudo_count: float, source: str = "labels"
) -> np.ndarray:
    """Vote counts (n, n_answers) for ``schema`` from a label table.

    Looks, per answer, for a count column ``{question}_{answer}``, else a fraction
    ``{question}_{answer}_fraction`` (× pseudo_count; NaN, as masked in GZ DESI, is
    0 votes), else for Galaxy Zoo 2 the Galaxy Challenge's cumulative ``ClassQ.A``
    (× pseudo_count). Fractions must lie in [0, 1] (a percentage or a count in a
    fraction column would weigh a galaxy a hundredfold); ``source`` names the table
    in the error.
    """
    columns = []
    for answer in schema.answers:
        if answer in table.columns:
            columns.append(table[answer].to_numpy(float))
            continue
        name = next(
            (
                c
                for c in (
                    f"{answer}_fraction",
                    kaggle_column(answer) if schema.name.startswith("gz2") else None,
                )
                if c in table.columns
            ),
            None,
        )
        if name is None:
            raise InputError(
                f"{source}: no votes for '{answer}' (looked for '{answer}', "
                f"'{answer}_fraction'"
                + (f", '{kaggle_column(answer)}'" if schema.name.startswith("gz2") else "")
                + ")"
            )
        fractions = table[name].to_numpy(float)
        if name.endswith("_fraction"):
            fractions = np.nan_to_num(fractions, nan=0.0)
        outside = (fractions < 0) | (fractions > 1)
        if outside.any():
            raise InputError(
                f"{source}: {int(outside.sum())} rows have vote fractions "
                f"outside [0, 1] in '{name}' (e.g. "
                f"{fractions[outside][0]:g}); give fractions, not percentages "
                f"or counts"
            )
        columns.append(fractions * pseudo_count)
    counts = np.stack(columns, axis=1)
    bad = ~np.isfinite(counts).all(axis=1) | (counts < 0).any(axis=1)
    if bad.any():
        raise InputError(f"{source}: {int(bad.sum())} rows have negative or non-finite votes")
    return counts.astype(np.float32)


def build_model(
    arch: str,
    bottleneck: int | None,
    schema: Schema,
    input_size: int,
    crop_fraction: float,
    pretrained: bool = False,
) -> tuple[GalaxyModel, dict]:
    """An encoder with a ``bottleneck``-dim representation, and a Dirichlet head.

    The paper set EfficientNet's ``num_features`` to 128; timm 1.x builders fix
    that argument, so the bottleneck here follows the pooled features: a
    :class:`~raregal.model.models.Bottleneck` (linear, batch norm, tanh), trained end to
    end, for any architecture. None keeps the pooled features.
    """
    model_args = {"num_classes": 0}
    encoder = create_encoder(arch, pretrained=pretrained, **model_args)
    if bottleneck:
        encoder = Bottleneck(encoder, bottleneck)
    dim = bottleneck or pooled_dim(encoder)
    head = DirichletHead(dim, len(schema.answers))
    model = GalaxyModel(
        encoder=encoder,
        name=arch,
        dim=dim,
        input_size=input_size,
        head=head,
        schema=schema,
        crop_fraction=crop_fraction,
    )
    return model, model_args


def decode_all(paths, input_size, crop_fraction, say) -> tuple[list, list]:
    """Every image, preprocessed once, as uint8 (3, size, size), or None with its
    reason in ``failed`` when it cannot be read."""
    from raregal.model.embed import ImageDataset

    dataset = ImageDataset(
        list(range(len(paths))), paths, crop_fraction, input_size, greyscale=False
    )
    decoded, failed = [], []
    for i in range(len(dataset)):
        _, pixels, reason = dataset[i]
        decoded.append(None if pixels is None else np.round(pixels * 255).astype(np.uint8))
        if pixels is None:
            failed.append((i, reason))
        if (i + 1) % 1000 == 0:
            say(f"decoded {i + 1} of {len(paths)} images")
    return decoded, failed


#: Training images are decoded with this much more of each side than the model sees,
#: so that zooming out (scale jitter) and turning show real sky, not padding.
AUGMENT_MARGIN = 1.25
#: Scale jitter: the view's side, relative to the model's crop, is drawn log-uniformly
#: in [1/ZOOM, ZOOM] -- galaxies fill SDSS and DECaLS cutouts differently.
ZOOM = 1.25
SHIFT = 0.05  # centre jitter, as a fraction of the view's side
#: Colour and noise jitter: brightness x U(0.6, 1.4), each band x U(0.95, 1.05),
#: Gaussian noise with sigma U(0, 0.02) (pixels in [0, 1]); surveys differ in both.
#: Brightness is strong on purpose: trained 80 epochs at +-0.1, the bundled family's
#: first principal component on DECaLS followed image brightness (r -0.66) and held
#: 51-53 % of the variance over 3 seeds; at +-0.4 it holds 45-49 % and agrees better
#: with DECaLS volunteers (the model card's "Why this recipe").
BRIGHTNESS, BAND_GAIN, NOISE = 0.4, 0.05, 0.02


def _uniform(n, low, high, generator, *shape):
    return low + (high - low) * torch.rand(n, *shape, generator=generator)


def augment(
    batch: torch.Tensor, size: int, generator: torch.Generator, margin: float = AUGMENT_MARGIN
) -> torch.Tensor:
    """Random views of a batch decoded with :data:`AUGMENT_MARGIN`.

    Galaxies have no preferred orientation or framing: each image is turned by
    any angle, flipped half the time, zoomed (:data:`ZOOM`) and shifted
    (:data:`SHIFT`), resampled to ``size`` pixels (bilinear; corners beyond the
    decoded frame are mirrored sky), then jittered in colour and noise.

    Parameters
    ----------
    batch : Tensor, shape (n, 3, m, m), values in [0, 1]
        Images decoded at ``crop_fraction * margin`` of each side.
    size : int
        The model's input side; the un-jittered view is the central ``1/margin``.
    margin : float
        See :data:`AUGMENT_MARGIN` (less where the crop nears the whole image).

    Returns
    -------
    Tensor, shape (n, 3, size, size), values in [0, 1]
    """
    import math

    import torch.nn.functional as F

    n = len(batch)
    angle = _uniform(n, 0, 2 * math.pi, generator)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    scale = torch.exp(_uniform(n, -math.log(ZOOM), math.log(ZOOM), generator)) / margin
    cos, sin = scale * torch.cos(angle), scale * torch.sin(angle)
    shift = _uniform(n, -SHIFT, SHIFT, generator, 2) * 2 * scale[:, None]
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, shift[:, 0]], 1),
            torch.stack([sin * flip, cos, shift[:, 1]], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, (n, batch.shape[1], size, size), align_corners=False)
    views = F.grid_sample(
        batch, grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )
    gain = _uniform(n, 1 - BRIGHTNESS, 1 + BRIGHTNESS, generator, 1, 1, 1) * _uniform(
        n, 1 - BAND_GAIN, 1 + BAND_GAIN, generator, batch.shape[1], 1, 1
    )
    noise = _uniform(n, 0, NOISE, generator, 1, 1, 1) * torch.randn(
        views.shape, generator=generator
    )
    return (views * gain + noise).clamp(0, 1)


def cosine_rate(peak: float, epoch: int, epochs: int) -> float:
    """The learning rate of ``epoch`` (1-based) of ``epochs``: a cosine from ``peak`` at
    epoch 1 down to a tenth of it at the last epoch, so that a short budget ends
    on a settled model. It depends only on the epoch, so a resumed run matches an
    uninterrupted one; resuming with more epochs stretches the rest of the curve."""
    import math

    progress = (epoch - 1) / max(epochs - 1, 1)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _epoch_loss(
    model,
    images,
    counts,
    batch_size,
    train,
    optimiser=None,
    generator=None,
    progress=None,
    margin=AUGMENT_MARGIN,
):
    model.encoder.train(train)
    model.head.train(train)
    order = torch.randperm(len(images), generator=generator) if train else torch.arange(len(images))
    total, seen = 0.0, 0
    for start in range(0, len(images), batch_size):
        index = order[start : start + batch_size]
        if train and len(index) == 1:  # batch norm cannot train on one image; the
            continue  # shuffle leaves out a different one each epoch
        batch = images[index].float() / 255.0
        if train:
            batch = augment(batch, model.input_size, generator, margin)
        with torch.set_grad_enabled(train):
            loss = dirichlet_multinomial_nll(
                model.head(model.encoder(batch)), counts[index], model.schema
            )
            if train:
                optimiser.zero_grad()
                loss.mean().backward()
                optimiser.step()
        total += float(loss.detach().sum())
        seen += len(index)
        if progress is not None:
            progress.update(len(index))
    return total / seen


def load_checkpoint(path: Path) -> dict:
    """A training checkpoint written by :func:`train`: tensors, numbers, strings and
    containers only (``weights_only``), so that a tampered file in an output folder
    cannot run code when a run resumes."""
    try:
        return torch.load(path, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        raise InputError(f"{path}: not a raregal training checkpoint ({first_line(exc)})") from None


def train(
    labels,
    out,
    *,
    schema: str = defaults.TRAIN_SCHEMA,
    questions=None,
    arch: str = defaults.TRAIN_ARCH,
    bottleneck: int | None = defaults.BOTTLENECK,
    input_size: int = defaults.INPUT_SIZE,
    crop_fraction: float = defaults.CROP_FRACTION,
    epochs: int = defaults.TRAIN_EPOCHS,
    batch_size: int = defaults.TRAIN_BATCH_SIZE,
    learning_rate: float = defaults.TRAIN_LEARNING_RATE,
    pseudo_count: float = defaults.PSEUDO_COUNT,
    val_fraction: float = defaults.TRAIN_VAL_FRACTION,
    seed: int = defaults.SEED,
    id_column=None,
    path_column=None,
    images=None,
    resume: bool = False,
    verbose: bool = True,
) -> dict:
    """Train and export a model that ``raregal embed`` loads.

    Parameters
    ----------
    labels : path-like
        A table with ids, image paths and votes (see :func:`vote_counts`).
    out : path-like
        Folder for ``checkpoint.pt`` (every epoch), ``metrics.csv``, ``split.csv``
        and the exported ``model/`` (the epoch with the lowest validation loss).
    schema, questions
        A built-in schema name and, optionally, the questions to train on.
    arch, bottleneck
        An architecture (:func:`raregal.model.models.create_encoder`: a timm name, or
        ``raregal_cnn`` / ``raregal_resnet``) and the representation dims of its
        :class:`~raregal.model.models.Bottleneck` (None: the architecture's pooled features).
    input_size, crop_fraction
        Preprocessing, stored with the model.
    epochs, batch_size, learning_rate, seed
        ``learning_rate`` is the peak of :func:`cosine_rate`; training views are
        :func:`augment`-ed, validation images are exactly what ``raregal embed`` sees.
    pseudo_count : float
        Volunteers assumed per galaxy when only fractions are given.
    val_fraction : float
        Share of galaxies, split by id with ``seed``, held out for validation.
    images : path-like, optional
        For label tables without a path column (the Galaxy Challenge's): the folder
        holding ``{id}`` with any suffix ``raregal embed`` reads (.jpg, .png, .fits, …).
    resume : bool
        Continue from ``out/checkpoint.pt``.

    Returns
    -------
    dict
        The summary written to ``out/training.json``.
    """
    from raregal.io.images import image_catalogue, table_paths

    validate(locals(), TRAIN_CONSTRAINTS, "train")
    started = time.time()
    out = Path(out)
    target = prepare(out, kind="train", inputs=[labels, images], in_place=True)
    say = stderr_printer(verbose)
    chosen = get_schema(schema)
    if questions:
        unknown = [q for q in questions if q not in {x.name for x in chosen.questions}]
        if unknown:
            raise ParameterError(
                "questions",
                f"{schema} has no question "
                f"{', '.join(unknown)}; it has "
                f"{', '.join(q.name for q in chosen.questions)}",
                "train",
            )
        chosen = chosen.subset(questions)
    params = TrainParams(
        arch,
        bottleneck,
        input_size,
        crop_fraction,
        epochs,
        batch_size,
        learning_rate,
        pseudo_count,
        val_fraction,
        seed,
    )
    checkpoint = out / "checkpoint.pt"
    if out.exists() and any(out.iterdir()) and not resume:
        raise InputError(
            f"{out}: exists; add --resume to continue its training, or choose another --out"
        )

    table = read_table(labels)
    if images is None:
        ids, paths, id_name = table_paths(table, Path(labels), id_column, path_column)
    else:
        id_name = find_id_column(table, id_column, Path(labels).name)
        ids = ids_as_strings(table.column(id_name))
        # the folder read as embed reads it, so that both find the same images
        found = dict(zip(*image_catalogue(images)[:2]))
        paths = [found.get(i, str(Path(images) / f"{i}.jpg")) for i in ids]  # missing: a failure
    check_ids(ids, id_name, Path(labels).name)
    counts = vote_counts(table.to_pandas(), chosen, pseudo_count, Path(labels).name)
    # Split by id, seeded: the same ids always land on the same side.
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(ids), bool)
    is_val[rng.permutation(len(ids))[: round(val_fraction * len(ids))]] = True
    margin = min(AUGMENT_MARGIN, 1 / crop_fraction)
    # Validation images exactly as `raregal embed` sees them; training images with
    # a margin of sky for the augmentation's zoom and turns.
    decoded, failed = [None] * len(ids), []
    for side, crop, size in (
        (is_val, crop_fraction, input_size),
        (~is_val, crop_fraction * margin, round(input_size * margin)),
    ):
        rows = np.flatnonzero(side)
        images_, bad = decode_all([paths[i] for i in rows], size, crop, say)
        for row, image in zip(rows, images_):
            decoded[row] = image
        failed += [(rows[i], reason) for i, reason in bad]
    usable = np.array([img is not None for img in decoded])
    if not usable.any():
        raise InputError(
            f"{Path(labels).name}: none of the {len(paths)} images could be "
            f"read (first: {paths[failed[0][0]]}: {failed[0][1]})"
        )
    if failed:
        say(f"{len(failed)} images could not be read and are left out")
    for side, members in (("training", ~is_val & usable), ("validation", is_val & usable)):
        if not members.any():
            raise InputError(
                f"{Path(labels).name}: {int(usable.sum())} readable images leave "
                f"no {side} galaxies with --val-fraction {val_fraction}"
            )
    target.make_dir()  # only once the labels, images and split are usable
    pd.DataFrame(
        {id_name: ids, "split": np.where(is_val, "val", "train"), "usable": usable}
    ).to_csv(out / "split.csv", index=False)
    x_train, x_val = (
        torch.from_numpy(np.stack([decoded[i] for i in np.flatnonzero(side & usable)]))
        for side in (~is_val, is_val)
    )
    y_train = torch.from_numpy(counts[~is_val & usable])
    y_val = torch.from_numpy(counts[is_val & usable])
    say(
        f"{len(x_train)} training and {len(x_val)} validation galaxies, "
        f"{len(chosen.answers)} answers in {len(chosen.questions)} questions"
    )

    torch.manual_seed(seed)
    model, model_args = build_model(arch, bottleneck, chosen, input_size, crop_fraction)
    optimiser = torch.optim.AdamW(
        [*model.encoder.parameters(), *model.head.parameters()], lr=learning_rate
    )
    generator = torch.Generator().manual_seed(seed)
    history, best = [], None
    if resume and checkpoint.is_file():
        state = load_checkpoint(checkpoint)
        if {**state["params"], "epochs": epochs} != asdict(params):  # more epochs is fine
            raise InputError(
                f"{checkpoint}: was trained with other settings; resume with the same ones"
            )
        model.encoder.load_state_dict(state["encoder"])
        model.head.load_state_dict(state["head"])
        optimiser.load_state_dict(state["optimiser"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        history, best = state["history"], state["best"]
        say(f"resuming after epoch {history[-1]['epoch']}")
    else:
        with torch.no_grad():
            val = _epoch_loss(model, x_val, y_val, batch_size, train=False)
        history.append({"epoch": 0, "train_loss": None, "val_loss": val, "seconds": 0.0})

    for epoch in range(len(history), epochs + 1):
        tic = time.time()
        for group in optimiser.param_groups:
            group["lr"] = cosine_rate(learning_rate, epoch, epochs)
        with tqdm(
            total=len(x_train),
            unit="img",
            desc=f"epoch {epoch}/{epochs}",
            disable=not verbose,
            file=sys.stderr,
            leave=False,
        ) as progress:
            train_loss = _epoch_loss(
                model, x_train, y_train, batch_size, True, optimiser, generator, progress, margin
            )
        with torch.no_grad():
            val = _epoch_loss(model, x_val, y_val, batch_size, train=False)
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val,
                "seconds": round(time.time() - tic, 2),
            }
        )
        say(
            f"epoch {epoch}/{epochs}: train {train_loss:.3f}, validation {val:.3f} "
            f"({history[-1]['seconds']:.0f} s)"
        )
        if best is None or val < best["val_loss"]:
            best = {"epoch": epoch, "val_loss": val}
            save_model(
                model,
                out / "model",
                architecture=arch,
                model_args=model_args,
                extra={"trained_epochs": epoch, "val_loss": val, "train_params": asdict(params)},
            )
        _write_metrics(out / "metrics.csv", history)
        tmp = checkpoint.with_name(".checkpoint.pt.tmp")
        torch.save(
            {
                "params": asdict(params),
                "encoder": model.encoder.state_dict(),
                "head": model.head.state_dict(),
                "optimiser": optimiser.state_dict(),
                "generator": generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "history": history,
                "best": best,
            },
            tmp,
        )
        tmp.replace(checkpoint)
    summary = {
        **record_header(),
        "params": asdict(params),
        "schema": chosen.as_dict(),
        "best": best,
        "history": history,
        "train_galaxies": int(len(x_train)),
        "val_galaxies": int(len(x_val)),
        "unreadable": len(failed),
        "wall_seconds": round(time.time() - started, 1),
    }
    write_json(out / "training.json", summary)  # strict JSON: a NaN loss is null
    target.release()
    return summary


def _write_metrics(path: Path, history) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["epoch", "train_loss", "val_loss", "seconds"])
        writer.writeheader()
        writer.writerows(history)
    tmp.replace(path)
