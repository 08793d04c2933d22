/// @file A progress line on stderr: done/total, rate and ETA, redrawn at most twice a second on a terminal;
/// into a log file (stderr not a terminal) a plain line every 10 seconds instead.
#pragma once

#include <fmt/format.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace ptq {

class Progress {
 public:
  Progress(std::string label, double total, std::string unit, bool enabled = true)
      : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(enabled) {}
  ~Progress() { finish(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(double n) {
    done_ += n;
    const auto now = Clock::now();
    const auto every = tty_ ? std::chrono::milliseconds(500) : std::chrono::milliseconds(10000);
    if (enabled_ && (now - last_ > every || (tty_ && done_ >= total_))) {
      last_ = now;
      draw();
    }
  }
  void finish() {
    if (!enabled_ || finished_) return;
    finished_ = true;
    draw();
    if (tty_) std::fputc('\n', stderr);
  }

 private:
  using Clock = std::chrono::steady_clock;
  void draw() const {
    const double secs = std::chrono::duration<double>(Clock::now() - start_).count();
    const double rate = secs > 0.2 ? done_ / secs : 0;  // no rate from the first instants
    const double eta = rate > 0 ? (total_ - done_) / rate : 0;  // 0 until a rate is known
    const int pct = total_ > 0 ? static_cast<int>(100 * done_ / total_) : 100;
    fmt::print(stderr, "{}{}: {:3d}% {:.0f}/{:.0f} {} | {:.1f} {}/s | {:.0f}s elapsed, ETA {:.0f}s{}", tty_ ? "\r" : "",
               label_, pct, done_, total_, unit_, rate, unit_, secs, eta, tty_ ? "   " : "\n");
    std::fflush(stderr);
  }
  std::string label_, unit_;
  double total_, done_ = 0;
  bool enabled_, finished_ = false;
  bool tty_ = ::isatty(STDERR_FILENO) != 0;
  Clock::time_point start_ = Clock::now(), last_ = start_;
};

}  // namespace ptq
