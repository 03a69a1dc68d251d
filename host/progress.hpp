// Progress on stderr: a bar redrawn in place when stderr is a terminal; otherwise (a log
// file, a batch system, a pipe) a plain line every log_interval seconds, so that long
// work reports as it goes wherever its output goes.
#pragma once
#include <chrono>
#include <string>

namespace jcas::host {

class progress_bar {
 public:
  explicit progress_bar(std::string label, bool enabled = true);
  ~progress_bar();
  /// Redraws at most ~10 times a second (a terminal) or writes a line at most every
  /// log_interval seconds (elsewhere); `extra` is appended (e.g. a running loss).
  void update(long done, long total, const std::string& extra = {});
  void finish();
  static constexpr double log_interval = 10;

 private:
  std::string label_;
  bool enabled_, tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace jcas::host
