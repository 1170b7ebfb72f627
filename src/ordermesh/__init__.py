"""ordermesh: one order hub for every channel a seller sells on."""

__version__ = "0.1.0"
