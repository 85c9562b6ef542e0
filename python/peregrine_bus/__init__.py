"""Peregrine's NATS bus from Python: decode the feed node's market data (binary v1 or JSON)
into objects with exact ``Decimal``s, and publish signals for engines.

See ``exchanges/src/bus/codec.rs`` for the binary layout this package implements.
"""

from .codec import (  # noqa: F401
    Bar,
    Book,
    BusEvent,
    CodecError,
    Quote,
    Status,
    Trade,
    decode,
)
from .bridge import Bridge, signal_json  # noqa: F401
