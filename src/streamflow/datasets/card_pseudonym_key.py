"""The HMAC key of gold's card pseudonyms, read from Kedro credentials (load only).

Nodes receive secrets like any other input, through the catalog; the key never appears in
the dataset's description, so Kedro's logs and ``kedro catalog`` commands do not show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from streamflow.medallion.pseudonym import CardPseudonymKeyError, parse_key


class CardPseudonymKeyLoadError(DatasetError):
    """The key is missing or malformed; ``code`` and ``detail`` are the key error's."""

    def __init__(self, error: CardPseudonymKeyError) -> None:
        super().__init__(str(error))
        self.code = error.code
        self.detail = error.detail


class CardPseudonymKeyDataset(AbstractDataset[None, bytes]):
    """The card pseudonym key as bytes, checked on load.

    Example (``conf/base/catalog.yml``; the credentials entry holds ``key``, hex digits)::

        card_pseudonym_key:
          type: streamflow.datasets.card_pseudonym_key.CardPseudonymKeyDataset
          credentials: card_pseudonym_key
    """

    def __init__(self, *, credentials: Mapping[str, Any] | None = None, metadata: dict[str, Any] | None = None) -> None:
        """Keep the credentials' ``key`` (unchecked until load, so runs without gold do not need it).

        Args:
            credentials: ``{"key": <hex string>}``.
            metadata: Ignored by Kedro.

        """
        self._key = (credentials or {}).get("key")
        self.metadata = metadata

    def load(self) -> bytes:
        """The key bytes.

        Raises:
            CardPseudonymKeyLoadError: If the key is missing, not hex, or too short.

        """
        try:
            return parse_key(self._key)
        except CardPseudonymKeyError as error:
            raise CardPseudonymKeyLoadError(error) from None

    def save(self, data: None) -> None:
        """Refuse: the key is configuration, not an output."""
        raise DatasetError("card_pseudonym_key is read-only: set it in the credentials, not from a node.")

    def _describe(self) -> dict[str, Any]:
        return {"key": "***" if self._key else None}
