#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace jcas::host {

progress_bar::progress_bar(std::string label, bool enabled)
    : label_(std::move(label)),
      enabled_(enabled),
      tty_(::isatty(2) != 0),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

progress_bar::~progress_bar() { finish(); }

void progress_bar::update(long done, long total, const std::string& extra) {
  if (!enabled_ || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_).count();
  const double frac = total > 0 ? double(done) / double(total) : 1.0;
  const double el = std::chrono::duration<double>(now - start_).count();
  const double eta = frac > 0 ? el * (1 - frac) / frac : 0;
  if (!tty_) {  // a line every log_interval seconds (none for work shorter than that)
    if (since < log_interval) return;
    last_ = now;
    std::fprintf(stderr, "%s: %ld/%ld (%.1f%%) in %.0f s, %.3g per second, about %.0f s left%s%s\n", label_.c_str(),
                 done, total, 100 * frac, el, el > 0 ? double(done) / el : 0.0, eta, extra.empty() ? "" : ", ",
                 extra.c_str());
    std::fflush(stderr);
    return;
  }
  if (done < total && since < 0.1) return;
  last_ = now;
  const int width = 30, fill = int(frac * width);
  std::fprintf(stderr, "\r%s [%.*s%*s] %5.1f%% %ld/%ld %.0fs left %s\033[K", label_.c_str(), fill,
               "##############################", width - fill, "", 100 * frac, done, total, eta, extra.c_str());
  std::fflush(stderr);
}

void progress_bar::finish() {
  if (enabled_ && tty_ && !finished_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
  finished_ = true;
}

}  // namespace jcas::host
