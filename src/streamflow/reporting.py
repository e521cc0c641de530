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


def format_labels_summary(report: dict[str, Any]) -> str:
    """Outcomes read, used and quarantined by code, and the label files not read."""
    codes = ", ".join(f"{code} {count:,}" for code, count in report["quarantined_by_code"].items()) or "none"
    not_read = ", ".join(f"{entry['file']} ({entry['error_code']})" for entry in report["files_not_read"]) or "none"
    return "\n".join(
        [
            "Outcomes",
            f"  read        {report['records_read']:,} records; files not read: {not_read}",
            f"  used        {report['outcomes_used']:,} ({report['fraud_outcomes']:,} fraud), newest labelled_at "
            f"{report['newest_labelled_at'] or '-'}",
            f"  quarantine  {report['quarantined']:,}: {codes}",
        ]
    )


def format_model_summary(metrics: dict[str, Any]) -> str:
    """The evaluation table under the delay protocol: windows, labels, the field's metrics per scorer."""
    window = metrics["protocol"]
    return "\n".join(
        [
            f"Evaluation of {metrics['model_version']} under the delay protocol: trained on "
            f"{window['train_start'][:10]} .. {window['train_end'][:10]}, tested on {window['test_start'][:10]} .. "
            f"{window['test_end'][:10]} with the outcomes known at {window['evaluation_cutoff'][:16]}",
            f"  test window {metrics['test_rows']:,} events: {metrics['test_fraud_rows']:,} fraud, "
            f"{metrics['test_legit_rows']:,} legit, {metrics['test_pending_rows']:,} pending (left out); "
            f"alert budget {metrics['alert_budget']:.1%}, card precision@{metrics['card_precision_k']} per day",
            *(f"  {line}" for line in metrics["table"].splitlines()),
        ]
    )


def format_empty_inputs(empty: dict[str, str]) -> str:
    """The optional inputs a run read as empty (allowed here: ``required: false``), with where it looked."""
    return "\n".join(
        ["Inputs read as empty (no records there yet; allowed here, required in production)"]
        + [f"  {name:<22} {location}" for name, location in sorted(empty.items())]
    )
