// How long one cache line takes to go from one core to another and back: two threads,
// pinned to CPUs a and b, take turns writing a counter the other waits for. Every time
// step of a multi-threaded forward or backward ends at a barrier and then reads the h
// the other threads wrote, so this round trip is what each step pays for crossing cores,
// and it tells where a virtual machine's vCPUs sit: on one machine of this project
// (a KVM guest, Zen 4) it reads 60-80 ns most of the time and 340-350 ns in phases
// lasting seconds to minutes, when the host has put the two vCPUs on different core
// complexes; in those phases 2-thread LSTM (a) training takes 1.2x as long.
//   bench_pingpong [CPU_A CPU_B [ROUND_TRIPS]]     (default 0 1 200000)
// Prints the time of one round trip in each of 5 runs, and their median. Linux only
// (thread affinity).
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

bool pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

bool parse(const char* s, long lo, long hi, long* out) {
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

struct alignas(64) Line {  // a cache line of its own
  std::atomic<long> v{0};
};
Line turn;

}  // namespace

int main(int argc, char** argv) {
  if (argc != 1 && argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: bench_pingpong [CPU_A CPU_B [ROUND_TRIPS]]\n");
    return 2;
  }
  long a = 0, b = 1, n = 200000;
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
    std::perror("sched_getaffinity");
    return 1;
  }
  if (argc >= 3) {
    for (int i = 1; i <= 2; ++i) {
      long* dst = i == 1 ? &a : &b;
      if (!parse(argv[i], 0, CPU_SETSIZE - 1, dst)) {
        std::fprintf(stderr, "CPU_%c: expected a CPU number 0-%d, got '%s'\n", 'A' + i - 1,
                     CPU_SETSIZE - 1, argv[i]);
        return 2;
      }
    }
  }
  if (argc == 4 && !parse(argv[3], 1, 100000000, &n)) {
    std::fprintf(stderr, "ROUND_TRIPS: expected an integer 1-100000000, got '%s'\n", argv[3]);
    return 2;
  }
  for (const long c : {a, b}) {
    if (!CPU_ISSET(c, &allowed)) {
      std::fprintf(stderr, "CPU %ld: not one this process may run on (see taskset -p)\n", c);
      return 2;
    }
  }
  if (a == b) std::fprintf(stderr, "note: CPU_A == CPU_B: both threads share one CPU\n");

  std::vector<double> ns;
  for (int run = 0; run < 5; ++run) {
    turn.v.store(0);
    bool other_pinned = false;
    std::thread other([&] {
      other_pinned = pin(static_cast<int>(b));
      for (long i = 0; i < n; ++i) {
        while (turn.v.load(std::memory_order_acquire) != 2 * i + 1) {
        }
        turn.v.store(2 * i + 2, std::memory_order_release);
      }
    });
    const bool pinned = pin(static_cast<int>(a));
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < n; ++i) {
      turn.v.store(2 * i + 1, std::memory_order_release);
      while (turn.v.load(std::memory_order_acquire) != 2 * i + 2) {
      }
    }
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    other.join();
    if (!pinned || !other_pinned) {
      std::fprintf(stderr, "could not pin the threads to CPUs %ld and %ld\n", a, b);
      return 1;
    }
    ns.push_back(dt / n * 1e9);
    std::printf("CPU %ld <-> CPU %ld: %.0f ns a round trip\n", a, b, ns.back());
  }
  std::sort(ns.begin(), ns.end());
  std::printf("median %.0f ns\n", ns[ns.size() / 2]);
  return 0;
}
