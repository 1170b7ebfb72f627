"""The pure core: orders, stock and the rules between them. Standard library only."""
