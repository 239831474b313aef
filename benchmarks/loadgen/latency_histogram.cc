// Logarithmic latency buckets: values below 32 ns are exact, above that each power of two is split
// into 32 equal sub-buckets.
#include "benchmarks/loadgen/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace popgate::bench {

int LatencyHistogram::index_of(uint64_t value) {
  if (value < kSubBuckets) return static_cast<int>(value);
  const int msb = 63 - std::countl_zero(value);
  const int shift = msb - kSubBucketBits;
  const int sub = static_cast<int>((value >> shift) & (kSubBuckets - 1));
  return (shift + 1) * kSubBuckets + sub;
}

uint64_t LatencyHistogram::upper_bound_of(int index) {
  if (index < kSubBuckets) return static_cast<uint64_t>(index);
  const int shift = index / kSubBuckets - 1;
  const uint64_t sub = static_cast<uint64_t>(index % kSubBuckets);
  const uint64_t lower = (kSubBuckets + sub) << shift;
  return lower + ((uint64_t{1} << shift) - 1);
}

void LatencyHistogram::record(uint64_t nanoseconds) {
  ++counts_[static_cast<size_t>(index_of(nanoseconds))];
  ++count_;
  max_ = std::max(max_, nanoseconds);
  sum_ += nanoseconds;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

uint64_t LatencyHistogram::quantile(double q) const {
  if (count_ == 0) return 0;
  const auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= std::max<uint64_t>(rank, 1)) return std::min(upper_bound_of(static_cast<int>(i)), max_);
  }
  return max_;
}

}  // namespace popgate::bench
