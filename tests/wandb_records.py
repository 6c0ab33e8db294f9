"""Read an offline W&B run back: the records of its run-<id>.wandb file (wandb >= 0.20 ships no reader of its
own). The file is a LevelDB-style log: a 7-byte header (":W&B", 0xBEE1, version), then 32 KiB blocks of chunks,
each a 7-byte header (CRC32, length, type: 1 full, 2 first, 3 middle, 4 last) and its bytes; a full record, or
first..last joined, is one protobuf `Record`."""

from __future__ import annotations

import json
import struct
from pathlib import Path

BLOCK, HEADER = 32768, 7


def records(path: Path):
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    pos, chunks = HEADER, []
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:  # a block's tail too short for a chunk header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        if kind == 0 and length == 0:
            pos += left
            continue
        chunks.append(data[pos + HEADER:pos + HEADER + length])
        pos += HEADER + length
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(b"".join(chunks))
            chunks = []
            yield record


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def offline_run(run_dir: Path) -> dict:
    """{name, tags, group, job_type, notes, history_keys, image_keys, summary} of the W&B run in a genbench run
    folder (or of genbench-table's run in a sweep folder)."""
    (path,) = Path(run_dir).glob("wandb/offline-run-*/run-*.wandb")
    out = {"history_keys": set(), "image_keys": set(), "summary": {}}
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            out.update(name=run.display_name, tags=list(run.tags), group=run.run_group, job_type=run.job_type,
                       notes=run.notes)
        elif kind == "history":
            keys = {_key(item) for item in record.history.item}
            out["history_keys"] |= keys
            out["image_keys"] |= {k[:-len("/_type")] for k in keys if k.endswith("/_type")}
        elif kind == "summary":
            for item in record.summary.update:
                out["summary"][_key(item)] = json.loads(item.value_json)
    return out
