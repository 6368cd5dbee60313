"""xae's benchmarks (`make bench`): deploy, config and scale latencies, router throughput."""
