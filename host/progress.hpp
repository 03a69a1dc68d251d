// A progress bar on stderr, drawn only when stderr is a terminal.
#pragma once
#include <chrono>
#include <string>

namespace jcas::host {

class progress_bar {
 public:
  explicit progress_bar(std::string label, bool enabled = true);
  ~progress_bar();
  /// Redraws at most ~10 times a second; `extra` is appended (e.g. a running loss).
  void update(long done, long total, const std::string& extra = {});
  void finish();

 private:
  std::string label_;
  bool enabled_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace jcas::host
