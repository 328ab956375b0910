"""Health probes that leave by one given link, whatever the balancing rules say."""
