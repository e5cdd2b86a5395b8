"""Typed provider errors, each with a sentence a person can act on."""

from __future__ import annotations


class ProviderError(Exception):
    """A provider call failed.

    ``code`` is the provider's own error code where it gave one (for example
    ``Retrieval.Arrears``) or one of ours (``Timeout``, ``BadResponse``...).
    ``message`` is the plain sentence shown to the person. ``transient`` says
    whether trying again later may help.
    """

    # True for failures after part of the answer arrived (a stream cut midway):
    # what arrived is kept and the search ends as "partial".
    keeps_results = False

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        transient: bool = False,
        request_id: str = "",
        provider_message: str = "",
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.transient = transient
        self.request_id = request_id
        self.provider_message = provider_message
