"""Backlog scans: the same results as ``brightline scan``, partitioned, checkpointed and optionally on Ray.

``listing`` finds the files (local paths and pyarrow-filesystem URIs) and cuts them into
partitions; ``runner`` drives a scan with an engine (``local`` threads or ``ray_engine``),
recording matches idempotently and writing one Parquet file per finished partition, which
is what lets a re-run skip finished work. Ray and pyarrow are imported only when used: the
core works without the ``ray`` extra.
"""

from __future__ import annotations

from brightline.scaleout.listing import DEFAULT_PARTITION_SIZE, FileItem, Partition, list_inputs, partition
from brightline.scaleout.runner import ScanJob, Summary, run

__all__ = ["DEFAULT_PARTITION_SIZE", "FileItem", "Partition", "ScanJob", "Summary", "list_inputs", "partition", "run"]
