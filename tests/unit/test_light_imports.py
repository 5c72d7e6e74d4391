"""Commands that start at once (issue 25): the code location and the commands that do not run a
pipeline import no library they do not use. Their speed is measured by the benchmark
(docs/benchmarks.md); these tests only check which modules each one loads."""

import json
import os
import subprocess
import sys

from finefinance_platform.settings import REPO_ROOT, get_settings

PIPELINE_LIBRARIES = ("dagster", "dagster_dbt", "dagster_dlt", "dbt", "dlt", "streamlit")


def _top_level_modules_after(code: str, home) -> set[str]:
    """The top-level packages in sys.modules after running `code` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{name.split('.')[0] for name in sys.modules}})))"
    # the test's home, every other setting at its default
    env = {name: value for name, value in os.environ.items() if not name.startswith(("FINEFINANCE_", "DBT_"))}
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, env={**env, "FINEFINANCE_HOME": str(home)},
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_loading_the_code_location_imports_neither_dlt_nor_streamlit(tmp_path):
    loaded = _top_level_modules_after("import finefinance_platform.definitions", tmp_path)
    assert {"dagster", "dagster_dbt"} <= loaded  # the probe did load the definitions
    assert not loaded & {"dlt", "dagster_dlt", "streamlit"}


def test_commands_that_run_no_pipeline_import_no_pipeline_library(tmp_path):
    """`finefinance --help` loads every command's module (to list them), `source status` and
    `access-log` answer from the home. (`users` too, but it starts the identity provider: the
    benchmark times it.)"""
    for arguments in (["--help"], ["source", "status"], ["access-log", "--limit", "1"]):
        code = (
            "import sys\nfrom finefinance_platform.cli import main\n"
            f"sys.argv = ['finefinance', *{arguments!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass"
        )
        loaded = _top_level_modules_after(code, tmp_path)
        assert "click" in loaded, arguments  # the probe did run the command line
        assert not loaded & set(PIPELINE_LIBRARIES), (arguments, sorted(loaded & set(PIPELINE_LIBRARIES)))


def test_the_ingestion_assets_are_those_dagster_dlt_makes(tmp_path, monkeypatch):
    """`raw_table_specs()` is written without dlt: each spec equals the one dagster-dlt's
    `dlt_assets` made from the dlt source with the platform's translator, which was (before the
    specs were written out): dagster-dlt's default spec, then raw/<table>, no deps, the ingestion
    group, the description, the owners, the `postgres` kind and the `layer` tag."""
    from dagster import AssetKey
    from dagster_dlt import DagsterDltTranslator, build_dlt_asset_specs
    from dagster_dlt.translator import DltResourceTranslatorData

    from finefinance_platform.ingestion.dlt_ingestion import raw_table_specs
    from finefinance_platform.ingestion.dlt_pipeline import RawTableTranslator, ingestion_pipeline, operational_source
    from finefinance_platform.source.tables import SOURCE_TABLES

    monkeypatch.setenv("FINEFINANCE_HOME", str(tmp_path))
    monkeypatch.delenv("FINEFINANCE_DUCKDB_PATH", raising=False)
    settings = get_settings()
    source = operational_source(reader_url=settings.source_url(reader=True))
    pipeline = ingestion_pipeline(settings, tmp_path / "dlt")

    class Reference(DagsterDltTranslator):
        def get_asset_spec(self, data: DltResourceTranslatorData):
            table = next(t for t in SOURCE_TABLES if t.name == data.resource.name)
            return (
                super()
                .get_asset_spec(data)
                .replace_attributes(
                    key=AssetKey(["raw", table.name]),
                    deps=[],
                    group_name="ingestion",
                    description=(
                        f"Copy of {table.qualified_name} in raw.{table.name}: incremental on updated_at, "
                        f"merged on {', '.join(table.primary_key)}."
                    ),
                    owners=["team:data-platform"],
                )
                .merge_attributes(kinds={"postgres"}, tags={"layer": "raw"})
            )

    def fields(spec) -> tuple:
        # dagster-dlt adds its source, pipeline and translator objects to the metadata, for its
        # resource to find them; the run passes them (dlt_pipeline.py), nothing else reads them
        metadata = {key: value for key, value in spec.metadata.items() if not key.startswith("dagster_dlt/")}
        return (spec.key, list(spec.deps), spec.description, spec.group_name, metadata, sorted(spec.kinds),
                dict(spec.tags), list(spec.owners), spec.automation_condition, spec.code_version,
                spec.partitions_def, spec.skippable)  # fmt: skip

    reference = build_dlt_asset_specs(dlt_source=source, dlt_pipeline=pipeline, dagster_dlt_translator=Reference())
    assert [fields(spec) for spec in raw_table_specs()] == [fields(spec) for spec in reference]
    # and the run finds each dlt resource's asset by the same key
    translator = RawTableTranslator()
    for resource, spec in zip(source.selected_resources.values(), raw_table_specs(), strict=True):
        data = DltResourceTranslatorData(resource=resource, pipeline=pipeline)
        assert translator.get_asset_spec(data).key == spec.key
