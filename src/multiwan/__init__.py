"""multiwan: multi-link load balancing and failover for Linux routers."""

__version__ = "0.1.0"
