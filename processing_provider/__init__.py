"""QGIS Processing adapters around the `balance_core` engine."""
