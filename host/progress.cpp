#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace jcas::host {

progress_bar::progress_bar(std::string label, bool enabled)
    : label_(std::move(label)), enabled_(enabled && ::isatty(2)), start_(std::chrono::steady_clock::now()), last_() {}

progress_bar::~progress_bar() { finish(); }

void progress_bar::update(long done, long total, const std::string& extra) {
  if (!enabled_ || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const double frac = total > 0 ? double(done) / double(total) : 1.0;
  const int width = 30, fill = int(frac * width);
  const double el = std::chrono::duration<double>(now - start_).count();
  const double eta = frac > 0 ? el * (1 - frac) / frac : 0;
  std::fprintf(stderr, "\r%s [%.*s%*s] %5.1f%% %ld/%ld %.0fs left %s\033[K", label_.c_str(), fill,
               "##############################", width - fill, "", 100 * frac, done, total, eta, extra.c_str());
  std::fflush(stderr);
}

void progress_bar::finish() {
  if (enabled_ && !finished_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
  finished_ = true;
}

}  // namespace jcas::host
