"""Implementations of the ports: database, channels, carriers, notifications, jobs."""
