"""Simulated sellers: ordermesh wired to sandboxed Amazon and Shopify accounts over real HTTP,
for the flash-sale harness (`ordermesh simulate flash-sale`) and the stock-sync benchmarks.

This package sits beside the entrypoints: it may start the sandboxes and a wired ordermesh,
and reaches concrete adapters only through `bootstrap` (the `Ordermesh` object)."""
