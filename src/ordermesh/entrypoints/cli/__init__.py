"""The ordermesh command line."""
