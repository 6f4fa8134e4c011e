"""Reads an Iceberg table the way other engines do, to check what Floe wrote.

Usage: read_table.py <metadata-file-uri> [row-filter]

Prints one JSON object:
- pyiceberg: rows from StaticTable.from_metadata(...).scan().to_arrow(), the snapshots, and
  the data files with the metrics pyiceberg read from the manifests;
- filtered: rows and planned files of a scan with the row filter, if one is given;
- duckdb: rows DuckDB reads from the data files the manifests list;
- parquet: each data file's footer as pyarrow sees it (field ids, types, statistics);
- manifests: the current snapshot's manifest list and every entry (deleted ones included), with
  the snapshot ids and sequence numbers pyiceberg resolved (inherited or explicit).

Timestamps are printed as integer microseconds, binaries as hex, 64-bit ids as strings.
"""

import json
import sys
from urllib.parse import unquote, urlparse

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.table import StaticTable


def local_path(uri):
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def rows_of(table):
    columns = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            columns[name] = column.cast(pa.int64()).to_pylist()
        elif pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
            columns[name] = [None if v is None else v.hex() for v in column.to_pylist()]
        else:
            columns[name] = column.to_pylist()
    return [{name: columns[name][i] for name in table.column_names} for i in range(table.num_rows)]


def hex_map(values):
    return {str(k): v.hex() for k, v in (values or {}).items()}


def int_map(values):
    return {str(k): int(v) for k, v in (values or {}).items()}


def stat_value(value):
    if isinstance(value, bytes):
        return value.hex()
    return value


def footer(path):
    parquet = pq.ParquetFile(path)
    arrow_schema = pq.read_schema(path)
    fields = []
    for i, field in enumerate(arrow_schema):
        column = parquet.schema.column(i)
        stats = [parquet.metadata.row_group(g).column(i).statistics for g in range(parquet.metadata.num_row_groups)]
        fields.append(
            {
                "name": field.name,
                "field_id": int((field.metadata or {}).get(b"PARQUET:field_id", b"-1")),
                "physical_type": column.physical_type,
                "logical_type": str(column.logical_type),
                "converted_type": column.converted_type,
                "required": column.max_definition_level == 0,
                "statistics": [
                    None
                    if s is None
                    else {
                        "has_min_max": s.has_min_max,
                        "min": stat_value(s.min_raw) if s.has_min_max else None,
                        "max": stat_value(s.max_raw) if s.has_min_max else None,
                        "null_count": s.null_count,
                    }
                    for s in stats
                ],
            }
        )
    return {"path": path, "num_rows": parquet.metadata.num_rows, "fields": fields}


def manifests_of(table):
    snapshot = table.current_snapshot()
    if snapshot is None:
        return []
    return [
        {
            "path": m.manifest_path,
            "content": int(m.content),
            "added_snapshot_id": str(m.added_snapshot_id),
            "sequence_number": m.sequence_number,
            "min_sequence_number": m.min_sequence_number,
            "added_files_count": m.added_files_count,
            "existing_files_count": m.existing_files_count,
            "deleted_files_count": m.deleted_files_count,
            "added_rows_count": m.added_rows_count,
            "existing_rows_count": m.existing_rows_count,
            "entries": [
                {
                    "status": int(e.status),
                    "snapshot_id": str(e.snapshot_id),
                    "sequence_number": e.sequence_number,
                    "file_sequence_number": e.file_sequence_number,
                    "file_path": e.data_file.file_path,
                }
                for e in m.fetch_manifest_entry(table.io, discard_deleted=False)
            ],
        }
        for m in snapshot.manifests(table.io)
    ]


def main():
    metadata_uri = sys.argv[1]
    row_filter = sys.argv[2] if len(sys.argv) > 2 else None
    table = StaticTable.from_metadata(metadata_uri)
    metadata = table.metadata

    tasks = list(table.scan().plan_files())
    files = [
        {
            "file_path": t.file.file_path,
            "file_format": str(t.file.file_format),
            "record_count": t.file.record_count,
            "file_size_in_bytes": t.file.file_size_in_bytes,
            "column_sizes": int_map(t.file.column_sizes),
            "value_counts": int_map(t.file.value_counts),
            "null_value_counts": int_map(t.file.null_value_counts),
            "nan_value_counts": int_map(t.file.nan_value_counts),
            "lower_bounds": hex_map(t.file.lower_bounds),
            "upper_bounds": hex_map(t.file.upper_bounds),
            "split_offsets": list(t.file.split_offsets or []),
        }
        for t in tasks
    ]
    output = {
        "pyiceberg": {
            "format_version": metadata.format_version,
            "current_snapshot_id": None if metadata.current_snapshot_id is None else str(metadata.current_snapshot_id),
            "snapshots": [
                {
                    "snapshot_id": str(s.snapshot_id),
                    "parent_snapshot_id": None if s.parent_snapshot_id is None else str(s.parent_snapshot_id),
                    "sequence_number": s.sequence_number,
                    "summary": {"operation": s.summary.operation.value, **s.summary.additional_properties},
                }
                for s in metadata.snapshots
            ],
            "schema": [
                {"id": f.field_id, "name": f.name, "type": str(f.field_type), "required": f.required}
                for f in metadata.schema().fields
            ],
            "rows": rows_of(table.scan().to_arrow()),
            "files": files,
        },
        "duckdb": {"rows": []},
        "parquet": [],
        "manifests": manifests_of(table),
    }
    paths = [local_path(f["file_path"]) for f in files]
    if paths:
        relation = duckdb.sql("SELECT * FROM read_parquet($paths)", params={"paths": paths})
        output["duckdb"]["rows"] = rows_of(relation.fetch_arrow_table())
    output["parquet"] = [footer(path) for path in paths]
    if row_filter is not None:
        scan = table.scan(row_filter=row_filter)
        output["filtered"] = {
            "rows": rows_of(scan.to_arrow()),
            "files": [t.file.file_path for t in scan.plan_files()],
        }
    json.dump(output, sys.stdout)


if __name__ == "__main__":
    main()
