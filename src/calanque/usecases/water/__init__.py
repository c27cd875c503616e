"""Water use case: river level vigilance, water-quality checks and the Hub'Eau hydrometry client."""
