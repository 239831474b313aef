// Latency histogram with logarithmic buckets (HdrHistogram-like, 32 sub-buckets per power of two,
// about 3% precision): fixed size, no allocation per sample, mergeable.
#pragma once

#include <array>
#include <cstdint>

namespace popgate::bench {

class LatencyHistogram {
 public:
  void record(uint64_t nanoseconds);
  void merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_); }
  // The upper bound of the bucket that holds the q-quantile (0 < q <= 1), in nanoseconds; 0 when empty.
  uint64_t quantile(double q) const;

 private:
  static constexpr int kSubBucketBits = 5;
  static constexpr int kSubBuckets = 1 << kSubBucketBits;
  static constexpr int kBuckets = 64 * kSubBuckets;
  static int index_of(uint64_t value);
  static uint64_t upper_bound_of(int index);

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
  unsigned __int128 sum_ = 0;
};

}  // namespace popgate::bench
