// Central with many connected, idle units: central's CPU and memory per session.
//
// Central is a real unitsyncd process (PKI, replica and config made with unitsyncctl, every
// setting at its default, so ping_interval_ms = 30 s and each idle session exchanges one
// PING/PONG per 30 s). The units are N real unit uplinks — daemon/nodes.h UnitNode, each
// with its own enrolled bundle (pki::EnrollUnit: certificate, key, sealing secret), its
// own TLS client context and its own replica file — hosted in this one process on one
// io_context and one store thread, since N unitsyncd processes do not fit on a small
// machine. Each is set up the way unitsyncd's main() sets up a unit (bundle, key ring,
// replica opened with the node checks, cursors loaded); they have no change watcher,
// since nothing writes to them.
//
//   1. CA + central (unitsyncctl), N enrollments and N replicas (library loops, timed).
//   2. Central started; after it settles: RSS and CPU over --base-window-s with 0 sessions.
//   3. All N uplinks started; wait until every one is in phase Syncing (WELCOME received)
//      and central's side shows N established TCP connections on its port (/proc/net/tcp;
//      central's `unit_admitted` log lines are rate-limited, so they cannot be counted).
//   4. After --settle-s, a --window-s idle window: central's CPU from /proc/PID/stat
//      utime + stime, its context switches (all threads), then its VmRSS; this process's
//      own CPU over the same window (the N uplinks); every uplink still Syncing at the end.
//
// Output: key=value lines, read by scripts/bench.
//
// Usage: hub_idle_bench [--units=500] [--window-s=30] [--base-window-s=10] [--settle-s=3]
//        [--bin=DIR] [--work=DIR]
// clang-format off
#include <utility>  // before Boost 1.74's awaitable.hpp, which needs std::exchange
// clang-format on
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_try.h"
#include "bench/deployment.h"
#include "bench/proc_stats.h"
#include "bench/process.h"
#include "daemon/config.h"
#include "daemon/key_ring.h"
#include "daemon/log.h"
#include "daemon/nodes.h"
#include "daemon/store_worker.h"
#include "daemon/sync_executor.h"
#include "daemon/tls_context.h"
#include "pki/bundle.h"
#include "pki/ca.h"
#include "store/replica.h"

namespace unitsync::bench {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using Phase = protocol::Uplink::Phase;

constexpr auto kStartTimeout = std::chrono::seconds(30);
constexpr auto kConnectTimeout = std::chrono::seconds(120);
// How long the host runs its io_context before it looks at the clock and the stop signals.
constexpr auto kSlice = std::chrono::milliseconds(250);
constexpr auto kConnectPoll = std::chrono::milliseconds(50);

struct Options {
  size_t units = 500;
  int window_s = 30;
  int base_window_s = 10;
  int settle_s = 3;
  std::string bin = OwnBinDir();
  std::string work;
};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double OwnCpuSeconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::string UnitId(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "unit-%04zu", i + 1);
  return buf;
}

// One hosted unit: what unitsyncd's main() builds for the unit role.
struct HostedUnit {
  daemon::Config config;
  std::optional<store::Replica> replica;
  std::optional<asio::ssl::context> tls;
  std::unique_ptr<daemon::UnitNode> node;
};

// N uplinks on one io_context and one store thread. Members in the order unitsyncd's
// main() has them: the nodes die first, then the store thread stops, then the io_context.
class Host {
 public:
  explicit Host(std::FILE* log_file) : log_(log_file) {}
  ~Host() {
    for (auto& u : units_) {
      if (u->node) u->node->Stop();
    }
    io_.run_for(std::chrono::milliseconds(300));  // let ERROR shutting_down go out
    store_.Stop();
  }

  // Reads a unit's config file and sets the unit up as unitsyncd would. One key ring holds
  // every hosted unit's key; each unit seals with its own only.
  Status Add(const std::string& config_path) {
    auto u = std::make_unique<HostedUnit>();
    auto config = daemon::ParseConfigFile(config_path);
    if (!config) return tl::unexpected(config.error());
    BENCH_TRY(daemon::ValidateConfig(*config));
    u->config = std::move(*config);
    auto bundle = pki::LoadBundle(u->config.bundle);
    if (!bundle) return tl::unexpected(bundle.error());
    if (bundle->node_id != u->config.node_id || !bundle->sealing) {
      return Fail(Errc::kInvalidArgument, "bundle does not fit " + u->config.node_id);
    }
    BENCH_TRY(
        keys_.Add(u->config.node_id, bundle->sealing->secret.bytes(), bundle->sealing->key_id));
    store::ReplicaOptions ropts;
    ropts.expect_node_id = u->config.node_id;
    ropts.expect_role = store::Role::kUnit;
    auto replica = store::Replica::Open(u->config.database, ropts);
    if (!replica) return tl::unexpected(replica.error());
    u->replica.emplace(std::move(*replica));
    auto ctx = daemon::MakeClientContext(*bundle);
    if (!ctx) return tl::unexpected(ctx.error());
    u->tls.emplace(std::move(*ctx));
    daemon::UnitExecutor loader(*u->replica, u->config.central_node, keys_);
    auto state = loader.LoadState();
    if (!state) return tl::unexpected(state.error());
    u->node = std::make_unique<daemon::UnitNode>(io_, u->config, *u->replica, keys_, *u->tls,
                                                 store_, log_, *state);
    units_.push_back(std::move(u));
    return {};
  }

  void StartAll() {
    for (auto& u : units_) u->node->Start();
  }
  size_t Syncing() const {
    size_t n = 0;
    for (const auto& u : units_) n += u->node->uplink().phase() == Phase::kSyncing;
    return n;
  }
  size_t size() const { return units_.size(); }

  // Runs the uplinks for `duration` (in slices, so a stop signal is noticed).
  Status Run(Clock::duration duration) {
    const auto until = Clock::now() + duration;
    while (Clock::now() < until) {
      if (StopRequested()) return Fail(Errc::kInternal, "interrupted");
      io_.run_for(std::min<Clock::duration>(kSlice, until - Clock::now()));
    }
    return {};
  }

 private:
  asio::io_context io_;
  daemon::StoreWorker store_{io_.get_executor()};
  daemon::Logger log_;
  daemon::KeyRing keys_;
  std::vector<std::unique_ptr<HostedUnit>> units_;
};

// CPU share of one core and context switches per second of `pid` over `window`, while
// `host` keeps running its uplinks.
struct WindowStats {
  double cpu_pct = 0;
  double switches_per_s = 0;
  TcpSegments segments;  // TCP data segments in and out over the window
  double own_cpu_pct = 0;
};

Result<WindowStats> Observe(pid_t pid, Host* host, std::chrono::seconds window) {
  auto cpu0 = CpuSeconds(pid);
  auto sw0 = ContextSwitches(pid);
  auto io0 = DataSegments(pid);
  if (!cpu0) return tl::unexpected(cpu0.error());
  if (!sw0) return tl::unexpected(sw0.error());
  if (!io0) return tl::unexpected(io0.error());
  const double own0 = OwnCpuSeconds();
  const auto t0 = Clock::now();
  if (host) {
    BENCH_TRY(host->Run(window));
  } else {
    BENCH_TRY(Idle(window));
  }
  const double elapsed = Seconds(Clock::now() - t0);
  const double own1 = OwnCpuSeconds();  // before reading /proc: that is not the uplinks' work
  auto cpu1 = CpuSeconds(pid);
  auto sw1 = ContextSwitches(pid);
  auto io1 = DataSegments(pid);
  if (!cpu1) return tl::unexpected(cpu1.error());
  if (!sw1) return tl::unexpected(sw1.error());
  if (!io1) return tl::unexpected(io1.error());
  WindowStats s;
  s.cpu_pct = 100.0 * (*cpu1 - *cpu0) / elapsed;
  s.switches_per_s = static_cast<double>(SwitchesBetween(*sw0, *sw1)) / elapsed;
  s.segments = TcpSegments{io1->in - io0->in, io1->out - io0->out, io1->sockets};
  s.own_cpu_pct = 100.0 * (own1 - own0) / elapsed;
  return s;
}

Status Run(const Options& opt, const WorkDir& work) {
  Deployment d(opt.bin, work.path(), FreePort());
  BENCH_TRY(d.AddCentral());

  // N enrollments, as `unitsyncctl pki enroll` makes them, then N replicas and configs.
  auto t = Clock::now();
  for (size_t i = 0; i < opt.units; ++i) {
    if (StopRequested()) return Fail(Errc::kInternal, "interrupted");
    const std::string id = UnitId(i);
    std::filesystem::create_directories(d.Dir(id));
    auto issued = pki::EnrollUnit(d.CaDir(), id, d.Bundle(id));
    if (!issued) return tl::unexpected(issued.error());
  }
  std::printf("units=%zu\nenroll_seconds=%.1f\n", opt.units, Seconds(Clock::now() - t));
  t = Clock::now();
  for (size_t i = 0; i < opt.units; ++i) {
    if (StopRequested()) return Fail(Errc::kInternal, "interrupted");
    const std::string id = UnitId(i);
    auto r = store::Replica::Create(d.Db(id), store::Role::kUnit, id);
    if (!r) return tl::unexpected(r.error());
    BENCH_TRY(d.WriteConfig(id, {}));
  }
  std::printf("replicas_seconds=%.1f\n", Seconds(Clock::now() - t));
  std::fflush(stdout);

  auto central = d.Start(Deployment::kCentral);
  if (!central) return tl::unexpected(central.error());
  auto fail = [&](const Error& e) -> Status {
    central->Stop();
    std::cerr << "--- " << d.Log(Deployment::kCentral) << " (last lines)\n"
              << LogTail(d.Log(Deployment::kCentral), 20);
    return tl::unexpected(e);
  };
  if (auto st = WaitForLog(d.Log(Deployment::kCentral), "event=listening", 1, kStartTimeout); !st) {
    return fail(st.error());
  }

  // This process holds N replicas (3 files each) and N sockets: more than the usual soft
  // limit of open files. Central (already started) keeps its own limit.
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &nofile);

  std::unique_ptr<std::FILE, int (*)(std::FILE*)> host_log(
      std::fopen((work.path() + "/host.log").c_str(), "w"), &std::fclose);
  if (!host_log) return fail(Error{Errc::kIo, "cannot write host.log", ""});
  auto host = std::make_unique<Host>(host_log.get());
  for (size_t i = 0; i < opt.units; ++i) {
    if (auto st = host->Add(d.Dir(UnitId(i)) + "/unitsyncd.toml"); !st) return fail(st.error());
  }

  // Central with no session.
  if (auto st = Idle(std::chrono::seconds(opt.settle_s)); !st) return fail(st.error());
  auto rss0 = RssBytes(central->pid());
  if (!rss0) return fail(rss0.error());
  auto base = Observe(central->pid(), nullptr, std::chrono::seconds(opt.base_window_s));
  if (!base) return fail(base.error());

  // Every uplink connects.
  t = Clock::now();
  host->StartAll();
  const auto deadline = Clock::now() + kConnectTimeout;
  int established = 0;
  for (;;) {
    if (auto st = host->Run(kConnectPoll); !st) return fail(st.error());
    auto e = EstablishedOnLocalPort(d.port());
    if (!e) return fail(e.error());
    established = *e;
    if (host->Syncing() == host->size() && static_cast<size_t>(established) == host->size()) break;
    if (Clock::now() >= deadline) {
      return fail(Error{Errc::kInternal,
                        std::to_string(host->Syncing()) + " of " + std::to_string(host->size()) +
                            " uplinks syncing, " + std::to_string(established) +
                            " connections established after " +
                            std::to_string(kConnectTimeout.count()) + " s",
                        ""});
    }
  }
  const double connect_s = Seconds(Clock::now() - t);
  if (auto st = host->Run(std::chrono::seconds(opt.settle_s)); !st) return fail(st.error());

  // The idle window with every session up.
  const std::string load_before = LoadAverage();
  auto idle = Observe(central->pid(), host.get(), std::chrono::seconds(opt.window_s));
  if (!idle) return fail(idle.error());
  auto rss_n = RssBytes(central->pid());
  if (!rss_n) return fail(rss_n.error());
  auto established_end = EstablishedOnLocalPort(d.port());
  if (!established_end) return fail(established_end.error());
  const size_t syncing_end = host->Syncing();

  std::printf("connect_seconds=%.2f\n", connect_s);
  std::printf("sessions_established=%d\nsessions_syncing_at_end=%zu\n", *established_end,
              syncing_end);
  std::printf("central_rss_0_bytes=%lld\ncentral_rss_n_bytes=%lld\n", static_cast<long long>(*rss0),
              static_cast<long long>(*rss_n));
  std::printf("central_rss_per_session_bytes=%.0f\n",
              static_cast<double>(*rss_n - *rss0) / static_cast<double>(opt.units));
  std::printf("base_window_seconds=%d\ncentral_cpu_pct_0=%.3f\ncentral_switches_per_s_0=%.2f\n",
              opt.base_window_s, base->cpu_pct, base->switches_per_s);
  std::printf("window_seconds=%d\ncentral_cpu_pct_n=%.3f\ncentral_switches_per_s_n=%.2f\n",
              opt.window_s, idle->cpu_pct, idle->switches_per_s);
  std::printf("central_segments_in_n=%lld\ncentral_segments_out_n=%lld\ncentral_tcp_sockets=%d\n",
              static_cast<long long>(idle->segments.in), static_cast<long long>(idle->segments.out),
              idle->segments.sockets);
  std::printf("host_cpu_pct_n=%.3f\n", idle->own_cpu_pct);
  std::printf("load_before=%s\nload_after=%s\n", load_before.c_str(), LoadAverage().c_str());
  std::fflush(stdout);
  if (syncing_end != host->size() || static_cast<size_t>(*established_end) != host->size()) {
    return fail(Error{Errc::kInternal, "sessions dropped during the idle window", ""});
  }
  host.reset();  // the units leave first, then central stops
  const int status = central->Stop();
  if (status != 0) return Fail(Errc::kInternal, "central exited with " + std::to_string(status));
  return {};
}

}  // namespace
}  // namespace unitsync::bench

int main(int argc, char** argv) {
  using namespace unitsync::bench;
  BlockStopSignals();
  Options opt;
  CLI::App app{"Central's CPU and memory with many connected, idle units"};
  app.add_option("--units", opt.units, "Unit uplinks hosted in this process");
  app.add_option("--window-s", opt.window_s, "Idle window with every session up (seconds)");
  app.add_option("--base-window-s", opt.base_window_s, "Idle window with no session (seconds)");
  app.add_option("--settle-s", opt.settle_s, "Pause before each window (seconds)");
  app.add_option("--bin", opt.bin, "Directory with unitsyncd and unitsyncctl");
  app.add_option("--work", opt.work, "Keep the deployment in this directory (default: temp)");
  CLI11_PARSE(app, argc, argv);
  WorkDir work(opt.work);
  auto st = Run(opt, work);
  if (!st) {
    std::cerr << "hub_idle_bench: " << st.error().ToString() << "\n";
    return 1;
  }
  return 0;
}
