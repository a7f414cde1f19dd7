// An idle, connected unit daemon: how often it wakes up and how much memory it holds.
//
// One central and one unit (unit-0001), real unitsyncd processes on loopback with TLS, PKI
// and replicas made with unitsyncctl, every setting at its default (ping_interval_ms =
// 30 s, change_poll_ms = 5 s). Once the unit has connected and settled, nothing writes
// anywhere for --window-s; over that window, from /proc:
//   wake-ups  the unit's context switches, voluntary + involuntary, summed over every
//             thread (/proc/PID/task/*/status), per second; also per thread
//   CPU       utime + stime (/proc/PID/stat) as a share of one core
//   RSS       VmRSS (/proc/PID/status) at the end of the window
// The same for central over the same window (one session).
//
// Then the unit runs a second time with change_poll_ms = 1 h — the fallback timer that
// covers filesystems without inotify effectively off — and is measured again, which shows
// what that timer costs and what is left (the keepalive).
//
// Output: key=value lines (PHASE.METRIC), read by scripts/bench.
//
// Usage: unit_idle_bench [--window-s=30] [--settle-s=5] [--bin=DIR] [--work=DIR]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "bench/bench_try.h"
#include "bench/deployment.h"
#include "bench/proc_stats.h"
#include "bench/process.h"

namespace unitsync::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kUnit = "unit-0001";
constexpr auto kStartTimeout = std::chrono::seconds(30);
constexpr const char* kNoFallback = "change_poll_ms = 3600000";

struct Options {
  int window_s = 30;
  int settle_s = 5;
  std::string bin = OwnBinDir();
  std::string work;
};

// "main:10+2 t2:6+0 t3:0+0": voluntary + involuntary switches per thread, in tid order
// (main = the process's first thread, t2... the others).
std::string PerThread(pid_t pid, const std::map<pid_t, ThreadSwitches>& before,
                      const std::map<pid_t, ThreadSwitches>& after) {
  std::string out;
  int n = 1;
  for (const auto& [tid, a] : after) {
    int64_t vol = a.voluntary, invol = a.involuntary;
    if (auto it = before.find(tid); it != before.end()) {
      vol -= it->second.voluntary;
      invol -= it->second.involuntary;
    }
    out += (out.empty() ? "" : " ") + (tid == pid ? std::string("main") : "t" + std::to_string(n)) +
           ":" + std::to_string(vol) + "+" + std::to_string(invol);
    ++n;
  }
  return out;
}

// Measures `unit` and `central` over one idle window; prints PHASE.* lines.
Status Window(const std::string& phase, pid_t unit, pid_t central, std::chrono::seconds window) {
  auto u0 = ContextSwitches(unit);
  auto c0 = ContextSwitches(central);
  auto ucpu0 = CpuSeconds(unit);
  auto ccpu0 = CpuSeconds(central);
  auto uio0 = DataSegments(unit);
  if (!u0 || !c0 || !ucpu0 || !ccpu0 || !uio0) return Fail(Errc::kNotFound, "a daemon is gone");
  const auto t0 = Clock::now();
  const std::string load_before = LoadAverage();
  BENCH_TRY(Idle(window));
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  auto u1 = ContextSwitches(unit);
  auto c1 = ContextSwitches(central);
  auto ucpu1 = CpuSeconds(unit);
  auto ccpu1 = CpuSeconds(central);
  auto urss = RssBytes(unit);
  auto crss = RssBytes(central);
  auto uio1 = DataSegments(unit);
  if (!u1 || !c1 || !ucpu1 || !ccpu1 || !urss || !crss || !uio1) {
    return Fail(Errc::kNotFound, "a daemon is gone");
  }
  const char* p = phase.c_str();
  std::printf("%s.window_seconds=%.1f\n", p, s);
  std::printf("%s.unit_wakeups_per_s=%.3f\n", p, SwitchesBetween(*u0, *u1) / s);
  std::printf("%s.unit_switches_per_thread=%s\n", p, PerThread(unit, *u0, *u1).c_str());
  std::printf("%s.unit_threads=%zu\n", p, u1->size());
  std::printf("%s.unit_cpu_pct=%.3f\n", p, 100.0 * (*ucpu1 - *ucpu0) / s);
  std::printf("%s.unit_rss_bytes=%lld\n", p, static_cast<long long>(*urss));
  std::printf("%s.unit_segments_out=%lld\n%s.unit_segments_in=%lld\n", p,
              static_cast<long long>(uio1->out - uio0->out), p,
              static_cast<long long>(uio1->in - uio0->in));
  std::printf("%s.central_wakeups_per_s=%.3f\n", p, SwitchesBetween(*c0, *c1) / s);
  std::printf("%s.central_switches_per_thread=%s\n", p, PerThread(central, *c0, *c1).c_str());
  std::printf("%s.central_cpu_pct=%.3f\n", p, 100.0 * (*ccpu1 - *ccpu0) / s);
  std::printf("%s.central_rss_bytes=%lld\n", p, static_cast<long long>(*crss));
  std::printf("%s.load_before=%s\n%s.load_after=%s\n", p, load_before.c_str(), p,
              LoadAverage().c_str());
  std::fflush(stdout);
  return {};
}

Status Run(const Options& opt, const WorkDir& work) {
  Deployment d(opt.bin, work.path(), FreePort());
  BENCH_TRY(d.AddCentral());
  BENCH_TRY(d.AddUnit(kUnit));
  auto central = d.Start(Deployment::kCentral);
  if (!central) return tl::unexpected(central.error());
  BENCH_TRY(WaitForLog(d.Log(Deployment::kCentral), "event=listening", 1, kStartTimeout));

  const auto window = std::chrono::seconds(opt.window_s);
  int starts = 0;
  for (const std::string phase : {"default", "no_fallback"}) {
    if (phase == "no_fallback") BENCH_TRY(d.WriteConfig(kUnit, kNoFallback));
    auto unit = d.Start(kUnit);
    if (!unit) return tl::unexpected(unit.error());
    ++starts;
    auto st = WaitForLog(d.Log(kUnit), "event=connected", starts, kStartTimeout);
    if (st) st = Idle(std::chrono::seconds(opt.settle_s));
    if (st) st = Window(phase, unit->pid(), central->pid(), window);
    if (!st) {
      std::cerr << "--- " << d.Log(kUnit) << " (last lines)\n" << LogTail(d.Log(kUnit), 15);
      return st;
    }
    if (const int status = unit->Stop(); status != 0) {
      return Fail(Errc::kInternal, "the unit exited with " + std::to_string(status));
    }
  }
  if (const int status = central->Stop(); status != 0) {
    return Fail(Errc::kInternal, "central exited with " + std::to_string(status));
  }
  return {};
}

}  // namespace
}  // namespace unitsync::bench

int main(int argc, char** argv) {
  using namespace unitsync::bench;
  BlockStopSignals();
  Options opt;
  CLI::App app{"Wake-ups and memory of an idle, connected unit daemon"};
  app.add_option("--window-s", opt.window_s, "Idle window (seconds)");
  app.add_option("--settle-s", opt.settle_s, "Pause after connecting (seconds)");
  app.add_option("--bin", opt.bin, "Directory with unitsyncd and unitsyncctl");
  app.add_option("--work", opt.work, "Keep the deployment in this directory (default: temp)");
  CLI11_PARSE(app, argc, argv);
  WorkDir work(opt.work);
  auto st = Run(opt, work);
  if (!st) {
    std::cerr << "unit_idle_bench: " << st.error().ToString() << "\n";
    return 1;
  }
  return 0;
}
