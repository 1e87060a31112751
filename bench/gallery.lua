-- wrk script for bench/gallery.py: adds the token and prints the latency percentiles as one
-- JSON line (microseconds), which bench/gallery.py reads.
local token = os.getenv("COUTURIER_BENCH_TOKEN")

request = function()
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. token })
end

done = function(summary, latency, requests)
  local statuses = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    'WRK {"requests": %d, "seconds": %.3f, "errors": %d, "p50": %d, "p95": %d, "p99": %d, "mean": %.1f}\n',
    summary.requests, summary.duration / 1e6, statuses,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean))
end
