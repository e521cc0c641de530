"""Wiring of the ``gold`` pipeline."""

from kedro.pipeline import Node, Pipeline

from streamflow.pipelines.gold import nodes


def create_pipeline(**kwargs: object) -> Pipeline:
    """Silver to the gold tables in the SQL database."""
    return Pipeline(
        [
            Node(
                nodes.build_fact_transactions,
                ["silver_transactions", "card_pseudonym_key"],
                "fact_transactions@table",
                name="build_fact_transactions_node",
            ),
            Node(nodes.build_dim_customer, "silver_transactions", "dim_customer", name="build_dim_customer_node"),
            Node(nodes.build_dim_store, "silver_transactions", "dim_store", name="build_dim_store_node"),
            Node(nodes.build_dim_product, "silver_transactions", "dim_product", name="build_dim_product_node"),
            Node(
                nodes.build_fact_fraud_alerts,
                "stream_alerts",
                "fact_fraud_alerts@table",
                name="build_fact_fraud_alerts_node",
            ),
            Node(
                nodes.build_aggregates,
                ["fact_transactions@hourly", "fact_transactions@daily", "fact_fraud_alerts@daily", "silver_report"],
                ["agg_hourly_sales", "agg_daily_fraud", "gold_summary"],
                name="build_aggregates_node",
            ),
        ]
    )
