"""Medallion transforms (bronze, silver, gold, quality) as plain pandas functions.

Kedro nodes in ``streamflow.pipelines`` wire them to the catalog; the event parser
comes from ``streamflow.core``, the same code the stream uses.
"""
