"""The Ray engine: read and hash in Ray Data tasks, match in actors that each load the index once.

Pipeline: the pending files (blocks of ``hash_batch``) → ``hash_batch_task`` in tasks of
``hash_cpus`` CPUs → ``MatchActor`` on a fixed pool of ``actors`` actors of ``match_cpus`` CPUs →
rows streamed back to the driver, which records and writes each partition as it completes.

The CPU shares matter: an actor pool that reserves every CPU leaves none for the hashing tasks,
and Ray then waits for ever without an error, so the pool is checked against the cluster's CPUs
before anything starts. Ray Data restarts an actor that dies and retries its batch there; the
driver drops any row it has already seen, so a restart neither loses nor duplicates a file.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brightline.banks import BankService
from brightline.errors import ScaleOutError
from brightline.matching import Matcher, MatchOptions
from brightline.matching.results import ScanResult
from brightline.matching.snapshot import snapshot_lock
from brightline.scaleout.listing import Partition, hash_item
from brightline.scaleout.rows import Row, arrow_schema, result_row
from brightline.signals.hashing import HashOptions, MediaHashes
from brightline.store.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RayOptions:
    """Where the cluster is and how the pipeline uses it."""

    # None: RAY_ADDRESS or a new local instance; "auto": the cluster `ray start` joined;
    # "ray://host:10001": a remote cluster through Ray Client; "local": always a private instance.
    address: str | None = None
    actors: int = 0  # matcher actors; 0 = one per 4 CPUs of the cluster (at least 1, at most 16)
    hash_cpus: float = 0.75  # CPUs reserved by one read-and-hash task
    match_cpus: float = 0.25  # CPUs reserved by one matcher actor (matching is light next to hashing)
    hash_batch: int = 64  # files per hashing task (16 gave half the throughput on 2 cores: per-task overhead)
    match_batch: int = 64  # files per matcher call
    num_cpus: int | None = None  # a new local instance only: CPUs to offer (default: all)
    object_store_memory: int | None = None  # a new local instance only: bytes (default: Ray's)


@dataclass(frozen=True)
class MatcherConfig:
    """What each matcher actor needs: the database, the matching policy and the shipped index snapshot."""

    database_url: str
    options: MatchOptions
    banks: frozenset[str] | None
    snapshot: Any  # ObjectRef of dict[relative path, bytes]: the driver's index snapshot


def import_ray() -> Any:
    """The ray module, or a ScaleOutError saying which extra to install."""
    try:
        import ray
        import ray.data  # Ray Data is what the engine uses
    except ImportError:
        raise ScaleOutError("the Ray engine needs the ray extra: pip install 'brightline[ray]'") from None
    return ray


@contextmanager
def connected(options: RayOptions) -> Iterator[str | None]:
    """Connect to (or start) Ray unless already connected; yields the dashboard URL when there is one."""
    ray = import_ray()
    started = False
    dashboard: str | None = None
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"address": options.address, "logging_level": logging.WARNING}
        if options.address in (None, "local"):
            kwargs.update(num_cpus=options.num_cpus, object_store_memory=options.object_store_memory)
        try:
            context = ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ScaleOutError(f"cannot connect to Ray at {options.address or 'a local instance'}: {exc}") from None
        started = True
        dashboard = getattr(context, "dashboard_url", None) or None
    _quiet_ray_data(ray)
    try:
        yield dashboard
    finally:
        if started:
            ray.shutdown()


def _quiet_ray_data(ray: Any) -> None:
    # brightline shows its own progress bar; Ray Data's bars and per-run INFO lines would interleave with it.
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def pool_size(options: RayOptions, cluster_cpus: float) -> int:
    """Matcher actors to start: asked for or one per 4 CPUs, never so many that hashing gets no CPU."""
    wanted = options.actors or max(1, min(16, int(cluster_cpus // 4)))
    if options.hash_cpus > cluster_cpus:
        raise ScaleOutError(f"a hashing task needs {options.hash_cpus} CPUs; the cluster has {cluster_cpus:g}")
    if wanted * options.match_cpus + options.hash_cpus > cluster_cpus:
        raise ScaleOutError(
            f"{wanted} matcher actors of {options.match_cpus} CPUs leave no room for a hashing task of "
            f"{options.hash_cpus} CPUs on {cluster_cpus:g} CPUs (Ray would wait for ever): use fewer actors"
        )
    return wanted


def export_snapshot(index_dir: Path | None) -> dict[str, bytes]:
    """The files of the index snapshot in ``index_dir`` (relative path -> bytes), read under its shared lock."""
    if index_dir is None or not index_dir.is_dir():
        return {}
    files: dict[str, bytes] = {}
    with snapshot_lock(index_dir, exclusive=False):
        for path in sorted(index_dir.rglob("*")):
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(index_dir).parts):
                files[str(path.relative_to(index_dir))] = path.read_bytes()
    return files


def hash_batch_task(batch: Any, options: HashOptions) -> Any:
    """Ray Data task: read and hash a batch of files (columns partition, file, size) → add hashes or error."""
    import pyarrow as pa

    hashes: list[bytes | None] = []
    errors: list[str | None] = []
    for file in batch.column("file").to_pylist():
        outcome = hash_item(file, options)
        hashes.append(None if isinstance(outcome, str) else pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))
        errors.append(outcome if isinstance(outcome, str) else None)
    return batch.append_column("hashes", pa.array(hashes, type=pa.binary())).append_column(
        "error", pa.array(errors, type=pa.string())
    )


class MatchActor:
    """Ray Data actor: holds one Matcher, loaded once from the shipped snapshot, and matches hashed batches."""

    def __init__(self, config: MatcherConfig) -> None:
        import ray

        files: Mapping[str, bytes] = ray.get(config.snapshot)
        folder = Path(tempfile.mkdtemp(prefix="brightline-index-"))
        try:
            for name, data in files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(data)
            self._db = Database(config.database_url)
            self._matcher = Matcher(BankService(self._db), index_dir=folder, options=config.options)
            self._matcher.refresh()  # maps the snapshot, then applies any change made since it
        finally:
            # The index maps its files; POSIX keeps mapped pages alive after the names are gone.
            shutil.rmtree(folder, ignore_errors=True)
        self._banks = config.banks
        log.info("matcher actor %d loaded the index at revision %d", os.getpid(), self._matcher.revision)

    def __call__(self, batch: Any) -> Any:
        """Match every hashed file of the batch; returns result rows."""
        import pyarrow as pa

        rows: list[Row] = []
        columns = batch.to_pydict()
        for partition, file, size, blob, error in zip(
            columns["partition"], columns["file"], columns["size"], columns["hashes"], columns["error"], strict=True
        ):
            if blob is None:
                rows.append(result_row(ScanResult(file=file, error=error), partition, size))
                continue
            hashes: MediaHashes = pickle.loads(blob)  # noqa: S301 - written by our own hashing task
            matches, low = self._matcher.match_hashes(hashes, self._banks)
            result = ScanResult(file=file, hashes=hashes, matches=tuple(matches), low_quality=low)
            rows.append(result_row(result, partition, size))
        return pa.Table.from_pylist(rows, schema=arrow_schema())


class RayEngine:
    """Runs pending partitions through the Ray Data pipeline; call inside ``connected()``."""

    def __init__(self, config: MatcherConfig, options: HashOptions, ray_options: RayOptions) -> None:
        self._config = config
        self._options = options
        self._ray = ray_options

    def __call__(self, partitions: Sequence[Partition]) -> Iterator[Row]:
        """Result rows of every file of ``partitions``, in the order they finish."""
        if not partitions:
            return
        import pyarrow as pa

        ray = import_ray()
        from ray.data import ActorPoolStrategy

        actors = pool_size(self._ray, float(ray.cluster_resources().get("CPU", 0)))
        items = [(p.index, item) for p in partitions for item in p.items]
        step = max(1, self._ray.hash_batch)
        blocks = [
            pa.table(
                {
                    "partition": pa.array([index for index, _ in chunk], type=pa.int64()),
                    "file": pa.array([item.file for _, item in chunk], type=pa.string()),
                    "size": pa.array([item.size for _, item in chunk], type=pa.int64()),
                }
            )
            for chunk in (items[i : i + step] for i in range(0, len(items), step))
        ]
        dataset = (
            ray.data.from_arrow(blocks)
            .map_batches(
                hash_batch_task,
                fn_kwargs={"options": self._options},
                batch_size=step,
                batch_format="pyarrow",
                num_cpus=self._ray.hash_cpus,
            )
            .map_batches(
                MatchActor,
                fn_constructor_kwargs={"config": self._config},
                compute=ActorPoolStrategy(size=actors),
                batch_size=max(1, self._ray.match_batch),
                batch_format="pyarrow",
                num_cpus=self._ray.match_cpus,
            )
        )
        batches = iter(dataset.iter_batches(batch_size=None, batch_format="pyarrow"))
        try:
            for table in batches:
                yield from table.to_pylist()
        finally:
            # Stops the streaming executor (tasks, actor pool) at once when the driver stops early.
            close = getattr(batches, "close", None)
            if close is not None:
                close()


def ray_engine(
    matcher: Matcher,
    *,
    database_url: str,
    index_dir: Path | None,
    options: HashOptions,
    banks: frozenset[str] | None,
    ray_options: RayOptions,
) -> RayEngine:
    """A Ray engine matching as ``matcher`` does: its snapshot saved, shipped once through the object store."""
    ray = import_ray()
    matcher.save_snapshot()  # so the actors start from the driver's revision, not an older snapshot
    snapshot = ray.put(export_snapshot(index_dir))
    config = MatcherConfig(database_url, matcher.options, banks, snapshot)
    return RayEngine(config, matcher.query_options(options), ray_options)
