"""Plain-text summaries of run reports, for people reading a terminal."""

from __future__ import annotations

from typing import Any


def format_generation_summary(manifest: dict[str, Any]) -> str:
    """A few lines on what the generator wrote."""
    patterns = ", ".join(
        f"{name} {count:,}" for name, count in manifest["events_per_pattern"].items() if name != "none"
    )
    codes = ", ".join(f"{code} {count:,}" for code, count in manifest["expected_error_codes"].items())
    partitions = manifest["partitions"]
    return "\n".join(
        [
            "Generated event stream",
            f"  lines       {manifest['total_lines']:,} in {len(partitions)} daily files "
            f"({partitions[0]} .. {partitions[-1]})"
            if partitions
            else "  lines       0",
            f"  valid       {manifest['valid_events']:,} "
            f"(fraud {manifest['fraud_events']:,} = {manifest['fraud_rate']:.2%})",
            f"  patterns    {patterns}",
            f"  malformed   {manifest['malformed_lines']:,}: {codes}",
        ]
    )


def format_quality_summary(report: dict[str, Any]) -> str:
    """Rows per layer, quarantined rows by reason, and the quality verdict."""
    layers = report["layers"]
    reasons = ", ".join(f"{code} {count:,}" for code, count in report["quarantined_by_code"].items()) or "none"
    failed = [check for check in report["checks"] if not check["passed"]]
    landing = report.get("landing") or {}
    rejected = landing.get("rejected_files", [])
    not_read = ", ".join(f"{entry['file']} ({entry['error_code']})" for entry in rejected) or "none"
    lines = [
        "Medallion",
        f"  landing     {landing.get('files_read', 0):,} files read; not read: {not_read}",
        f"  bronze      {layers['bronze_rows']:,} rows",
        f"  silver      {layers['silver_rows']:,} rows   duplicates {layers['duplicate_rows']:,}",
        f"  quarantine  {layers['quarantined_rows']:,} rows: {reasons}",
        f"  gold        fact_transactions {layers['fact_transactions_rows']:,} rows",
        f"  quality     {report['verdict'].upper()} "
        f"({len(report['checks']) - len(failed)}/{len(report['checks'])} checks passed; "
        f"freshness against {report.get('freshness_measured_against', 'the ingestion time')})",
    ]
    lines += [f"              {'BLOCKING ' if check['blocking'] else ''}{check['message']}" for check in failed]
    return "\n".join(lines)


def format_model_summary(metrics: dict[str, Any]) -> str:
    """The holdout evaluation table and the model's effect on fraud no rule catches."""
    thresholds = metrics["thresholds"]
    return "\n".join(
        [
            f"Model {metrics['model_version']} on the holdout window "
            f"({metrics['holdout_rows']:,} events, {metrics['holdout_fraud_rows']:,} fraud; "
            f"alpha {metrics['alpha']}, blend threshold {thresholds['blend']:.3f})",
            *(f"  {line}" for line in metrics["table"].splitlines()),
            f"  subtle fraud recall: rules only {metrics['subtle_recall_rules_only']:.2f}, "
            f"blend {metrics['subtle_recall_blend']:.2f}",
        ]
    )


def format_empty_inputs(empty: dict[str, str]) -> str:
    """The optional inputs a run read as empty (allowed here: ``required: false``), with where it looked."""
    return "\n".join(
        ["Inputs read as empty (no records there yet; allowed here, required in production)"]
        + [f"  {name:<22} {location}" for name, location in sorted(empty.items())]
    )
