"""Images to representations and vote fractions: the ``raregal embed`` stage.

The catalogue is cut into shards of consecutive rows. Each shard is decoded in
worker processes (overlapping the model), embedded in batches and written to
``shards/`` as soon as it is done, through a temporary file; a resumed run skips
the shards already there, so an interruption -- Ctrl-C or SIGKILL -- costs at
most the shard in flight and never loses or repeats a galaxy. When every shard
is done they are merged, in catalogue order, into the output folder:

``representations.parquet``
    The id, ``feat_0 … feat_{d-1}`` and, for a model with a head,
    ``{question}_{answer}_fraction`` -- what ``raregal search`` reads.
``failures.csv``
    Unreadable, missing or corrupt images: id, path and reason; written only
    when some image failed.
``manifest.json``
    Model, preprocessing, versions, counts and timings.

With Dask (``dask_address`` or ``dask_workers``) the shards are spread over
workers that each load the model once; the shards, and so the output, are the
same as in a single process.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from raregal.core import defaults
from raregal.core.errors import InputError, first_line
from raregal.core.monitor import stderr_printer
from raregal.core.params import (
    BATCH_SIZE,
    CROP_FRACTION,
    FLAG,
    INPUT_SIZE,
    SEED,
    WORKERS,
    Integral,
    Interval,
    Options,
    Satisfies,
    validate,
)
from raregal.io.images import ImageError, image_catalogue, model_input
from raregal.io.output import prepare, write_json
from raregal.io.records import EmbedManifest, record_header

SHARD_DIR = "shards"


@dataclass(frozen=True)
class EmbedParams:
    """Everything that decides the numbers in the output; a resumed run must match."""

    model: str
    arch: str | None
    crop_fraction: float
    input_size: int
    passes: int
    batch_size: int
    shard_size: int
    seed: int


#: A device torch understands: auto, cpu, mps, cuda or cuda:N.
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")

#: :func:`embed`'s parameters, checked before any image is read.
EMBED_CONSTRAINTS = {
    "crop_fraction": [CROP_FRACTION, Options(None)],
    "input_size": [INPUT_SIZE, Options(None)],
    "passes": [Interval(Integral, 1, 100)],  # each pass runs the model on every image again
    "batch_size": [BATCH_SIZE],
    # a shard is held in memory until written: 10^6 x 1,280 features are 5 GB
    "shard_size": [Interval(Integral, 1, 1_000_000)],
    "workers": [Interval(Integral, 0, WORKERS), Options(None)],
    "device": [
        Satisfies(lambda d: DEVICE.fullmatch(d) is not None, "auto, cpu, mps, cuda or cuda:N")
    ],
    "seed": [SEED],
    "dask_workers": [Interval(Integral, 1, WORKERS), Options(None)],
    "resume": [FLAG],
    "overwrite": [FLAG],
    "verbose": [FLAG],
}


# --- the catalogue -----------------------------------------------------------------


def catalogue_digest(ids, paths) -> str:
    digest = hashlib.sha256()
    for i, p in zip(ids, paths):
        digest.update(f"{i}\t{p}\n".encode())
    return digest.hexdigest()


# --- one shard ---------------------------------------------------------------------


class ImageDataset:
    """A torch Dataset over (row, path): a decoded, preprocessed image or the reason
    it could not be read."""

    def __init__(self, rows, paths, crop_fraction, size, greyscale):
        self.rows, self.paths = rows, paths
        self.crop_fraction, self.size, self.greyscale = crop_fraction, size, greyscale

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        try:
            pixels = model_input(
                self.paths[i],
                crop_fraction=self.crop_fraction,
                size=self.size,
                greyscale_model=self.greyscale,
            )
            return self.rows[i], pixels, ""
        except ImageError as exc:
            return self.rows[i], None, str(exc)


def _collate(batch):
    import torch

    good = [(row, pixels) for row, pixels, _ in batch if pixels is not None]
    failed = [(row, reason) for row, pixels, reason in batch if pixels is None]
    rows = np.array([row for row, _ in good], dtype=np.int64)
    images = torch.from_numpy(np.stack([p for _, p in good])) if good else None
    return rows, images, failed


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {device}: no CUDA device; use --device cpu")
    return device


def embed_rows(
    model,
    rows,
    paths,
    params: EmbedParams,
    *,
    device="cpu",
    workers=0,
    seed_offset=0,
    progress=None,
):
    """Embed one shard of images.

    Returns
    -------
    done_rows : ndarray of int64, shape (k,)
    features : ndarray of float32, shape (k, dim)
    fractions : ndarray of float32, shape (k, n_answers), or None
    failed : list of (row, reason)
    """
    import torch
    from torch.utils.data import DataLoader

    dataset = ImageDataset(
        rows, paths, params.crop_fraction, params.input_size, greyscale=model.in_chans == 1
    )
    loader = DataLoader(
        dataset,
        batch_size=params.batch_size,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=device.startswith("cuda"),
        prefetch_factor=4 if workers else None,
    )
    cuda = device.startswith("cuda")
    done, features, fractions, failed = [], [], [], []
    for batch, (batch_rows, images, batch_failed) in enumerate(loader):
        failed.extend(batch_failed)
        if images is not None:
            # Seeded per batch, so the head's stochastic passes do not depend on
            # which process -- or Dask worker -- runs the shard.
            torch.manual_seed(
                int(np.random.SeedSequence([params.seed, seed_offset, batch]).generate_state(1)[0])
            )
            images = images.to(device, non_blocking=True)
            if cuda:
                images = images.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
                feats, fracs = model.predict(images, passes=params.passes)
            done.append(batch_rows)
            features.append(feats.float().cpu().numpy())
            if fracs is not None:
                fractions.append(fracs.float().cpu().numpy())
        if progress is not None:
            progress.update(len(batch_rows) + len(batch_failed))
    dim = model.dim
    return (
        np.concatenate(done) if done else np.empty(0, np.int64),
        np.concatenate(features) if features else np.empty((0, dim), np.float32),
        (
            np.concatenate(fractions)
            if fractions
            else (np.empty((0, len(model.schema.answers)), np.float32) if model.head else None)
        ),
        failed,
    )


def _shard_path(folder: Path, index: int) -> Path:
    return folder / SHARD_DIR / f"part-{index:05d}.parquet"


def _shard_done(folder: Path, index: int, n_rows: int, say) -> bool:
    """Whether shard ``index`` is written whole: its table and failures are readable
    and hold its ``n_rows`` rows between them. One cut short (a file system that lost
    its end, a disk that filled) is deleted, to be embedded again: it is raregal's
    own intermediate file, and redoing it costs one shard."""
    path = _shard_path(folder, index)
    if not path.exists():
        return False
    try:
        rows = pq.read_metadata(path).num_rows
        rows += len(pd.read_csv(path.with_suffix(".failures.csv")))
    except (OSError, ValueError, pa.ArrowException) as exc:  # pandas' parser: ValueError
        problem = first_line(exc)
    else:
        if rows == n_rows:
            return True
        problem = f"{rows} of its {n_rows} rows"
    say(f"{path}: cut short or unreadable ({problem}); embedding its galaxies again")
    path.unlink()
    return False


def write_shard(folder: Path, index: int, model, result) -> None:
    """The shard's failures, then its table; the table's presence marks it done."""
    done_rows, features, fractions, failed = result
    target = _shard_path(folder, index)
    failures = target.with_suffix(".failures.csv")
    tmp = failures.with_name(f".{failures.name}.tmp")
    pd.DataFrame(failed, columns=["row", "reason"]).to_csv(tmp, index=False)
    tmp.replace(failures)
    columns = {"row": pa.array(done_rows)}
    columns.update({f"feat_{j}": pa.array(features[:, j]) for j in range(features.shape[1])})
    if fractions is not None:
        for j, name in enumerate(model.schema.fraction_columns):
            columns[name] = pa.array(fractions[:, j])
    tmp = target.with_name(f".{target.name}.tmp")
    pq.write_table(pa.table(columns), tmp)
    tmp.replace(target)


# --- Dask --------------------------------------------------------------------------

_WORKER_MODELS: dict = {}


def _dask_shard(folder, index, rows, paths, params_dict, device, threads):
    """Run on a Dask worker: load the model once per worker, embed, write the shard."""
    import torch

    torch.set_num_threads(threads)
    params = EmbedParams(**params_dict)
    key = (params.model, params.arch, device)
    if key not in _WORKER_MODELS:
        from raregal.model.models import load_model

        _WORKER_MODELS[key] = load_model(params.model, arch=params.arch).to(device)
    model = _WORKER_MODELS[key]
    # Dask workers are daemonic and may not start decoding processes of their own.
    result = embed_rows(model, rows, paths, params, device=device, workers=0, seed_offset=index)
    write_shard(Path(folder), index, model, result)
    return index, len(result[0]), len(result[3])


def _dask_client(address, n_workers):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise InputError(
            "Dask is not installed: install the dask extra, "
            "pip install '.[dask]' in a raregal checkout"
        ) from exc
    if address:
        return Client(address), None
    cluster = LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    return Client(cluster), cluster


# --- the run -----------------------------------------------------------------------


def _check_folder(
    out: Path, params: EmbedParams, digest: str, resume: bool, overwrite: bool
) -> None:
    manifest = out / "manifest.json"
    if not out.exists() or overwrite:  # overwrite: output.Target.make_dir replaces it
        return
    if not any(out.iterdir()):  # an empty folder, such as a mount point: nothing to lose
        return
    if not manifest.is_file():
        raise InputError(
            f"{out}: exists and is not a raregal embed folder; choose another "
            f"--out or add --overwrite"
        )
    record = EmbedManifest.read(manifest)
    if record.complete:
        raise InputError(f"{out}: already holds a finished run; add --overwrite to redo it")
    if not resume:
        raise InputError(
            f"{out}: holds an interrupted run; add --resume to finish it, "
            f"or --overwrite to start again"
        )
    if record.params != asdict(params) or record.catalogue_sha256 != digest:
        raise InputError(
            f"{out}: the interrupted run used another catalogue or other "
            f"settings; resume with the same ones, or --overwrite"
        )


def embed(
    source,
    out,
    *,
    model: str | None = None,
    arch: str | None = None,
    id_column=None,
    path_column=None,
    crop_fraction: float | None = None,
    input_size: int | None = None,
    passes: int = defaults.PREDICTION_PASSES,
    batch_size: int = defaults.EMBED_BATCH_SIZE,
    shard_size: int = defaults.EMBED_SHARD_SIZE,
    workers: int | None = None,
    device: str = "auto",
    seed: int = defaults.SEED,
    resume: bool = False,
    overwrite: bool = False,
    dask_address: str | None = None,
    dask_workers: int | None = None,
    verbose: bool = True,
) -> dict:
    """Embed a folder or catalogue of galaxy images; see the module docstring.

    Parameters
    ----------
    source : path-like
        A folder of JPEG/PNG/FITS images, or a table with an id and a path column.
    out : path-like
        The output folder.
    model, arch
        :func:`raregal.model.models.load_model` arguments; no model: the bundled default.
    crop_fraction, input_size
        Preprocessing; default: the model's (Zoobot's 1/1.2 and 224).
    passes : int
        Stochastic forward passes of the head averaged per galaxy.
    batch_size, shard_size, workers, device
        Throughput; ``workers`` decoding processes (default: one per spare core).
    seed : int
        Seeds the head's dropout, per shard.
    resume, overwrite
        Finish an interrupted run in ``out``; or replace ``out``.
    dask_address, dask_workers
        Spread shards over a Dask cluster, or over a local one of this many workers.

    Returns
    -------
    dict
        The manifest.
    """
    validate(locals(), EMBED_CONSTRAINTS, "embed")
    started = time.time()
    out = Path(out)
    target = prepare(out, kind="embed", inputs=[source], overwrite=overwrite, in_place=True)
    ids, paths, id_name = image_catalogue(source, id_column=id_column, path_column=path_column)
    import torch  # only now: seconds to import, after the cheap checks
    from tqdm.auto import tqdm

    from raregal.model.models import load_model

    device = resolve_device(device)
    loaded = load_model(model, arch=arch)
    params = EmbedParams(
        model=loaded.name if model is None else str(model),
        arch=arch,
        crop_fraction=(loaded.crop_fraction if crop_fraction is None else crop_fraction),
        input_size=loaded.input_size if input_size is None else input_size,
        passes=passes,
        batch_size=batch_size,
        shard_size=shard_size,
        seed=seed,
    )
    digest = catalogue_digest(ids, paths)
    _check_folder(out, params, digest, resume, overwrite)
    target.make_dir()
    (out / SHARD_DIR).mkdir(parents=True, exist_ok=True)

    n = len(ids)
    say = stderr_printer(verbose)
    shards = [
        (i, np.arange(start, min(start + shard_size, n)))
        for i, start in enumerate(range(0, n, shard_size))
    ]
    pending = [(i, rows) for i, rows in shards if not _shard_done(out, i, len(rows), say)]
    manifest = {
        **record_header(),
        "status": "running",
        "source": str(Path(source).resolve()),  # raregal report finds the images
        "catalogue_sha256": digest,
        "rows": n,
        "id_column": id_name,
        "params": asdict(params),
        "model": {
            "name": params.model,
            "dim": loaded.dim,
            "in_chans": loaded.in_chans,
            "schema": loaded.schema.as_dict() if loaded.schema else None,
            **loaded.info,
        },
        "preprocessing": {
            "crop_fraction": params.crop_fraction,
            "input_size": params.input_size,
            "scale": "x / 255",
            "normalisation": None,
        },
        "device": device,
        "shards": len(shards),
        "resumed_shards": len(shards) - len(pending),
    }
    write_json(out / "manifest.json", manifest)

    say(
        f"{n} images, model {params.model} ({loaded.dim}-d"
        f"{', ' + loaded.schema.name + ' head' if loaded.schema else ', no head'}), "
        f"{len(pending)} of {len(shards)} shards to do, on {device}"
    )
    todo = sum(len(rows) for _, rows in pending)
    progress = tqdm(total=todo, unit="img", disable=not verbose, file=sys.stderr, smoothing=0.1)
    if dask_address or dask_workers:
        client, cluster = _dask_client(dask_address, dask_workers)
        threads = max(1, (os.cpu_count() or 1) // max(1, dask_workers or 1))
        try:
            futures = [
                client.submit(
                    _dask_shard,
                    str(out),
                    i,
                    rows.tolist(),
                    [paths[r] for r in rows],
                    asdict(params),
                    device,
                    threads,
                    pure=False,
                )
                for i, rows in pending
            ]
            from dask.distributed import as_completed

            for future in as_completed(futures):
                _, n_done, n_failed = future.result()
                progress.update(n_done + n_failed)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    else:
        if workers is None:
            workers = max(1, min(8, (os.cpu_count() or 1) - 1))
        loaded.to(device)
        if device.startswith("cuda"):
            loaded.encoder.to(memory_format=torch.channels_last)
        for i, rows in pending:
            result = embed_rows(
                loaded,
                rows.tolist(),
                [paths[r] for r in rows],
                params,
                device=device,
                workers=workers,
                seed_offset=i,
                progress=progress,
            )
            write_shard(out, i, loaded, result)
    progress.close()

    manifest.update(_merge(out, ids, paths, id_name, len(shards)))
    manifest["status"] = "complete"
    manifest["wall_seconds"] = round(time.time() - started, 3)
    write_json(out / "manifest.json", manifest)
    shutil.rmtree(out / SHARD_DIR)  # only now: a crash before this resumes from them
    target.release()
    failed = f" ({manifest['failed']} failed, see failures.csv)" if manifest["failed"] else ""
    say(
        f"embedded {manifest['embedded']} of {n} images{failed} into "
        f"{out / 'representations.parquet'}"
    )
    return manifest


def _read_shard(path: Path) -> pa.Table:
    """A shard's table; one broken after :func:`_shard_done` checked it is deleted and
    named in one line, so that ``--resume`` embeds it again."""
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        path.unlink()
        raise InputError(
            f"{path}: unreadable ({first_line(exc)}); deleted: run again with "
            f"--resume to embed its galaxies again"
        ) from None


def _merge(out: Path, ids, paths, id_name: str, n_shards: int) -> dict:
    """Join the shards in catalogue order; write the table and failures.csv."""
    tables = [_read_shard(_shard_path(out, i)) for i in range(n_shards)]
    table = pa.concat_tables(tables)
    order = np.argsort(table.column("row").to_numpy(), kind="stable")
    table = table.take(pa.array(order))
    rows = table.column("row").to_numpy()
    table = table.drop_columns(["row"])
    table = table.add_column(0, id_name, pa.array(ids[rows].astype(str)))
    tmp = out / ".representations.parquet.tmp"
    pq.write_table(table, tmp)
    tmp.replace(out / "representations.parquet")

    # Typed as written: a shard without failures has only the header, which pandas
    # would otherwise read as an object column and concat into non-integer rows.
    failures = pd.concat(
        [
            pd.read_csv(
                _shard_path(out, i).with_suffix(".failures.csv"),
                dtype={"row": "int64", "reason": str},
                keep_default_na=False,
            )
            for i in range(n_shards)
        ],
        ignore_index=True,
    )
    failures = failures.sort_values("row", kind="stable")
    failed_rows = failures["row"].to_numpy(np.int64)
    failures.insert(0, id_name, ids[failed_rows].astype(str))
    failures.insert(1, "path", [paths[r] for r in failed_rows])
    failures = failures.drop(columns="row")
    if len(failures):  # no empty file to open when every image was read
        tmp = out / ".failures.csv.tmp"
        failures.to_csv(tmp, index=False)
        tmp.replace(out / "failures.csv")
    return {"embedded": int(len(rows)), "failed": int(len(failures))}
