"""The parquet file of one stored series, read and written in pieces: a 2M-row series
is never held both as an arrow table and as a pandas frame. The file written is the one
``pq.write_table`` writes (same row groups, same bytes); the frame read is the one
``pq.read_table(...).to_pandas()`` gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

META_KEY = b"carryguard"  # the schema metadata key of a series' SeriesMeta JSON

READ_ROWS = 65536  # a larger series is read this many rows at a time


def read_frame(path: Path) -> pd.DataFrame:
    """A series file as pandas. A large one is read ``READ_ROWS`` at a time into one float
    block, so it is never held both as an arrow table and as a frame (reading 2M rows at
    once would peak near 300 MB above the frame's 100)."""
    file = pq.ParquetFile(path, pre_buffer=False)
    rows = file.metadata.num_rows
    if rows <= READ_ROWS:
        return file.read().to_pandas()
    indexes, block, start = [], np.empty((0, 0)), 0
    for batch in file.iter_batches(batch_size=READ_ROWS, use_threads=False):
        part = batch.to_pandas()
        if not all(dtype == np.float64 for dtype in part.dtypes):
            return file.read().to_pandas()
        if not start:
            columns, block = part.columns, np.empty((part.shape[1], rows))
        block[:, start : start + len(part)] = part.to_numpy().T
        indexes.append(part.index)
        start += len(part)
    pa.default_memory_pool().release_unused()
    return pd.DataFrame(block.T, index=indexes[0].append(indexes[1:]), columns=columns, copy=False)


ROW_GROUP = 1024 * 1024  # pyarrow's default row group: the file is the one pq.write_table writes


def write_parquet(frame: pd.DataFrame, metadata: dict[bytes, bytes], path: str) -> None:
    """``frame`` (index as column ``time``) with ``metadata`` added to the schema's,
    converted to arrow one row group at a time, so a large series is never held twice."""
    writer = None
    try:
        for start in range(0, max(len(frame), 1), ROW_GROUP):
            table = pa.Table.from_pandas(frame.iloc[start : start + ROW_GROUP], preserve_index=True)
            if writer is None:
                schema = table.schema.with_metadata({**(table.schema.metadata or {}), **metadata})
                writer = pq.ParquetWriter(path, schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
