"""The code location loads with the whole graph: 8 raw tables → dbt layers → marts, with monthly
partitions on the month-grain marts, freshness policies on every asset, and the money checks."""

import json
import os
import subprocess
import sys

from dagster import AssetCheckKey, AssetKey

from finefinance_platform.settings import REPO_ROOT, get_settings
from finefinance_platform.source.tables import SOURCE_TABLES

CONTRACT_MARTS = [
    "dim_customer",
    "dim_advisor",
    "dim_account",
    "dim_product",
    "dim_date",
    "fct_transaction",
    "fct_monthly_statement",
    "fct_statement_line",
    "fct_customer_month",
    "advisor_upgrade_candidates",
    "advisor_budget_support",
    "kpi_monthly_growth",
    "kpi_customers_per_profile",
    "kpi_transactions_per_month",
    "fct_customer_value",
    "value_tier_migrations",
    "advisor_value_actions",
    "customer_risk_score",
]
MONTH_GRAIN = [m for m in CONTRACT_MARTS if not m.startswith("dim_")]


def _graph():
    from finefinance_platform.definitions import defs

    return defs, defs.resolve_asset_graph()


def test_every_source_table_and_mart_is_an_asset():
    _, graph = _graph()
    keys = set(graph.get_all_asset_keys())
    assert {AssetKey(["raw", t.name]) for t in SOURCE_TABLES} <= keys
    assert {AssetKey(["marts", m]) for m in CONTRACT_MARTS} <= keys


def test_lineage_runs_from_the_source_tables_to_the_marts():
    _, graph = _graph()
    statement = AssetKey(["marts", "fct_monthly_statement"])
    ancestors, frontier = set(), [statement]
    while frontier:
        key = frontier.pop()
        for parent in graph.get(key).parent_keys:
            if parent not in ancestors:
                ancestors.add(parent)
                frontier.append(parent)
    assert AssetKey(["raw", "transaction"]) in ancestors
    assert any(k.path[0] == "staging" for k in ancestors)


def test_month_grain_marts_are_monthly_partitioned_and_everything_has_freshness():
    _, graph = _graph()
    for mart in MONTH_GRAIN:
        node = graph.get(AssetKey(["marts", mart]))
        assert node.partitions_def is not None, mart
        assert type(node.partitions_def).__name__ == "MonthlyPartitionsDefinition"
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_materializable:
            assert node.freshness_policy is not None, key.to_user_string()


def test_groups_follow_the_layers():
    _, graph = _graph()
    assert graph.get(AssetKey(["raw", "transaction"])).group_name == "ingestion"
    assert graph.get(AssetKey(["marts", "kpi_monthly_growth"])).group_name == "marts"
    staging = [k for k in graph.get_all_asset_keys() if k.path[0] == "staging"]
    assert staging and all(graph.get(k).group_name == "staging" for k in staging)


def test_money_checks_are_blocking():
    _, graph = _graph()
    checks = {(key.asset_key.path[-1], key.name): graph.get_check_spec(key) for key in graph.asset_check_keys}
    assert checks[("transaction", "matches_source")].blocking
    assert checks[("kpi_transactions_per_month", "kpis_match_transactions")].blocking
    # the source's own balances disagreeing is reported, not a reason to withhold the statements
    assert not checks[("fct_monthly_statement", "balance_table_agrees")].blocking
    # the rules inside one mart are dbt tests, each in one place, blocking what reads the mart
    names = {name for (_, name) in checks}
    for rule in ("statement_arithmetic", "opening_equals_previous_closing", "lines_match_statement",
                 "counts_sum_to_signed_up", "drivers_sum_to_contribution",
                 "value_tier_migrations_reconcile"):  # fmt: skip
        matching = [key for key in checks if key[1].startswith(rule)]
        assert matching and all(checks[key].blocking for key in matching), rule
    assert not names & {"statement_reconciles", "profiles_sum_to_signed_up"}  # no second copy in Python
    # dbt tests arrived as checks too
    assert any(name.startswith(("unique", "not_null")) for (_, name) in checks)


def test_statements_are_issued_after_the_marts_and_before_their_documents():
    defs, graph = _graph()
    issues = AssetKey(["delivery", "statement_issues"])
    assert AssetKey(["marts", "fct_statement_line"]) in graph.get(issues).parent_keys
    assert graph.get(issues).partitions_def is not None
    for downstream in ("statement_documents", "serving_copy"):
        assert issues in graph.get(AssetKey(["delivery", downstream])).parent_keys
    assert graph.get_check_spec(AssetCheckKey(issues, "issued_statements_match_the_marts")).blocking
    # the monthly close issues them, with the months it builds
    assert issues in defs.resolve_job_def("close_month").asset_layer.selected_asset_keys


def test_dagster_validates_the_code_location():
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dbt_resource_skips_dagster_dbts_per_step_start_up_costs():
    """`PlatformDbtCliResource` overrides two private hooks of dagster-dbt (a `dbt --version`
    subprocess and an in-process adapter, ~8 s per dbt step): if dagster-dbt renames them, the
    overrides would silently stop applying, so this fails instead."""
    import importlib.metadata

    from dagster_dbt import DbtCliResource

    from finefinance_platform.transformation.dbt_assets import PlatformDbtCliResource, dbt_resource

    for hook in ("_cli_version", "_initialize_dbt_core_adapter"):
        assert hasattr(DbtCliResource, hook), f"dagster-dbt no longer has {hook}"
    resource = dbt_resource(get_settings())
    assert isinstance(resource, PlatformDbtCliResource)
    assert str(resource._cli_version) == importlib.metadata.version("dbt-core")
    assert resource._initialize_dbt_core_adapter(["build"]) is None


def test_the_runs_start_dbt_as_finefinance_dbt_which_is_dbt_itself():
    """The dbt steps start `finefinance-dbt` (transformation/dbt_process.py: dbt's own command, its
    imports frozen out of the garbage collector): installed beside this interpreter, it answers as
    the installed dbt-core and exits with dbt's own code on a bad command."""
    import importlib.metadata
    from pathlib import Path

    from finefinance_platform.transformation.dbt_assets import dbt_resource

    executable = Path(dbt_resource(get_settings()).dbt_executable)
    assert executable == Path(sys.executable).parent / "finefinance-dbt"
    version = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0, version.stderr
    assert f"installed: {importlib.metadata.version('dbt-core')}" in version.stdout
    wrong = subprocess.run([executable, "no-such-command"], capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and "No such command" in wrong.stderr


def test_loading_the_definitions_leaves_the_environment_as_it_was():
    """Nothing is written to the environment when the code location is imported: dbt gets the
    warehouse's paths when a dbt process starts (PlatformDbtCliResource.cli), so a test, a tool such
    as `dg`, or a second code location never inherits another's warehouse."""
    probe = (
        "import json, os; before = dict(os.environ); import finefinance_platform.definitions; "
        "print(json.dumps(sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k) "
        "and k.startswith(('FINEFINANCE_', 'DBT_')))))"
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith(("FINEFINANCE_DUCKDB", "DBT_"))}
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_a_dbt_process_gets_the_settings_paths_and_the_environment_is_restored(monkeypatch, tmp_path):
    from finefinance_platform.transformation.dbt_assets import temporary_environment

    monkeypatch.setenv("FINEFINANCE_DUCKDB_PATH", "/somewhere/else.duckdb")
    monkeypatch.delenv("FINEFINANCE_MONTH_START", raising=False)
    with temporary_environment({"FINEFINANCE_DUCKDB_PATH": str(tmp_path / "w.duckdb"), "FINEFINANCE_MONTH_START": "x"}):
        probe = "import os; print(os.environ['FINEFINANCE_DUCKDB_PATH'], os.environ['FINEFINANCE_MONTH_START'])"
        seen = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert seen == [str(tmp_path / "w.duckdb"), "x"]
    assert os.environ["FINEFINANCE_DUCKDB_PATH"] == "/somewhere/else.duckdb"
    assert "FINEFINANCE_MONTH_START" not in os.environ


def test_the_manifest_is_stale_when_a_model_or_a_seed_is_newer(tmp_path, monkeypatch):
    """What `dagster dev` and the benchmark decide to parse again on; dbt's own output never counts."""
    from finefinance_platform.transformation import manifest as module

    project, seeds = tmp_path / "dbt_project", tmp_path / "seeds"
    (project / "models").mkdir(parents=True)
    (project / "target" / "run-1").mkdir(parents=True)
    seeds.mkdir()
    monkeypatch.setattr(module, "SOURCE_FOLDERS", (project, seeds))
    manifest = project / "target" / "manifest.json"
    assert module.manifest_is_stale(manifest)  # none yet
    for path in (project / "models" / "m.sql", seeds / "s.csv", project / "target" / "run-1" / "x.sql"):
        path.write_text("")
        os.utime(path, (1_000, 1_000))
    manifest.write_text("{}")
    assert not module.manifest_is_stale(manifest)
    os.utime(project / "target" / "run-1" / "x.sql")  # dbt's output, newer: still current
    assert not module.manifest_is_stale(manifest)
    os.utime(seeds / "s.csv", (manifest.stat().st_mtime + 10,) * 2)
    assert module.manifest_is_stale(manifest)


def test_a_homes_second_dbt_step_parses_only_what_changed(monkeypatch, tmp_path):
    """dbt parses the whole project again when its saved state was parsed with another profile (the
    warehouse path is in it). The state a step leaves is kept per home, so the next step starts
    from it; old step folders are pruned."""
    from finefinance_platform.transformation import dbt_assets

    monkeypatch.setenv("FINEFINANCE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FINEFINANCE_DUCKDB_PATH", raising=False)
    dbt = dbt_assets.dbt_resource(get_settings())

    def reparse_reasons() -> list[str]:
        invocation = dbt.cli(["parse"])
        names = [event.raw_event["info"]["name"] for event in invocation.stream_raw_events()]
        dbt_assets.keep_partial_parse(invocation)
        return [name for name in names if name == "UnableToPartialParse"]

    # a home of its own: its warehouse path differs from the one `make install` parsed with
    assert reparse_reasons() == ["UnableToPartialParse"]
    assert reparse_reasons() == []

    target = tmp_path / "home" / "dbt" / "target"
    for index in range(dbt_assets.KEPT_STEP_FOLDERS + 5):
        folder = target / f"dbt_monthly-run{index}"
        folder.mkdir()
        os.utime(folder, (1_000 + index, 1_000 + index))
    reparse_reasons()
    kept = sorted(entry.name for entry in target.iterdir() if entry.is_dir())
    assert len(kept) == dbt_assets.KEPT_STEP_FOLDERS
    assert "dbt_monthly-run0" not in kept and "dbt_monthly-run24" in kept


def test_no_module_reads_the_settings_when_imported():
    """The partitions (first month), the dbt project (target), the jobs and the ingestion asset are
    made by factories when the definitions load: importing a module reads no setting, so a test or a
    tool can set the environment first and import in any order."""
    probe = """
import importlib, pkgutil
import finefinance_platform, finefinance_platform.settings as settings
def refuse(*args, **kwargs):
    raise RuntimeError("settings read at import")
settings.load_settings = settings.get_settings = refuse
for module in pkgutil.walk_packages(finefinance_platform.__path__, "finefinance_platform."):
    # the code location itself loads the definitions; the dashboards' app and pages are Streamlit scripts
    streamlit_script = module.name.startswith(
        ("finefinance_platform.dashboards.app", "finefinance_platform.dashboards.pages.")
    )
    if module.name != "finefinance_platform.definitions" and not streamlit_script:
        try:
            importlib.import_module(module.name)
        except RuntimeError:
            print(module.name)
"""
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == []


def test_the_factories_follow_the_settings_they_are_given(monkeypatch):
    """Made from the settings passed in, and the same objects while those stay: a test (or a tool)
    that changes the environment never gets definitions of another one."""
    from finefinance_platform.statements.assets import statement_issues
    from finefinance_platform.transformation.partitions import monthly_partitions

    monkeypatch.setenv("FINEFINANCE_FIRST_MONTH", "2023-01")
    settings = get_settings()
    first = statement_issues(settings)
    assert first.partitions_def.get_first_partition_key() == "2023-01-01"
    assert statement_issues(get_settings()) is first and monthly_partitions(settings) is first.partitions_def
    monkeypatch.setenv("FINEFINANCE_FIRST_MONTH", "2024-03")
    assert statement_issues(get_settings()).partitions_def.get_first_partition_key() == "2024-03-01"
