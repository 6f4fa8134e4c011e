"""Reads every Iceberg table of one or more Floe run directories, the way other engines do.

Usage: read_run.py <run-dir> [<run-dir> ...]

One process for many tables: Python, pyiceberg and DuckDB take a while to start. For each run
directory, each table in its catalog (`<run-dir>/catalog/<table>/v<version>.json`, the highest
version naming the current metadata file) is read twice:
- pyiceberg: StaticTable.from_metadata(<current metadata>).scan().to_arrow();
- duckdb: read_parquet over the data files pyiceberg planned from the manifests.

Prints one JSON object: { <run-dir>: { <table>: { metadata_location, schema, snapshots,
files, pyiceberg: { rows }, duckdb: { rows } } } }. Values are printed as read_table.py prints
them: timestamps as integer microseconds, binaries as hex.
"""

import json
import os
import re
import sys

import duckdb
from pyiceberg.table import StaticTable

from read_table import local_path, rows_of

POINTER = re.compile(r"^v(\d{20})\.json$")


def current_metadata(catalog_dir, name):
    versions = [f for f in os.listdir(os.path.join(catalog_dir, name)) if POINTER.match(f)]
    if not versions:
        return None
    with open(os.path.join(catalog_dir, name, max(versions)), encoding="utf-8") as pointer:
        return json.load(pointer)["metadata-location"]


def read_table(metadata_location):
    table = StaticTable.from_metadata(metadata_location)
    scan = table.scan()
    paths = [t.file.file_path for t in scan.plan_files()]
    duckdb_rows = []
    if paths:
        relation = duckdb.sql(
            "SELECT * FROM read_parquet($paths)", params={"paths": [local_path(p) for p in paths]}
        )
        duckdb_rows = rows_of(relation.fetch_arrow_table())
    return {
        "metadata_location": metadata_location,
        "schema": [
            {"id": f.field_id, "name": f.name, "type": str(f.field_type), "required": f.required}
            for f in table.metadata.schema().fields
        ],
        "snapshots": len(table.metadata.snapshots),
        "files": paths,
        "pyiceberg": {"rows": rows_of(scan.to_arrow())},
        "duckdb": {"rows": duckdb_rows},
    }


def read_run(run_dir):
    catalog_dir = os.path.join(run_dir, "catalog")
    tables = {}
    names = sorted(os.listdir(catalog_dir)) if os.path.isdir(catalog_dir) else []
    for name in names:
        if not os.path.isdir(os.path.join(catalog_dir, name)):
            continue
        location = current_metadata(catalog_dir, name)
        if location is not None:
            tables[name] = read_table(location)
    return tables


def main():
    json.dump({run_dir: read_run(run_dir) for run_dir in sys.argv[1:]}, sys.stdout)


if __name__ == "__main__":
    main()
