// Long-running and concurrent use of the runtime (issue #9's stress figures):
// many invocations without growth in memory, many threads with identical
// results, and loading and unloading the same executable over and over.
// Leaks are caught by LeakSanitizer in the sanitizer build (where ASan's
// quarantine makes resident size meaningless); the plain build also checks
// that the resident size and the open file count stay flat.
#include "RuntimeTestSupport.h"

#include <cstdio>
#include <dirent.h>
#include <thread>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UBE_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define UBE_UNDER_ASAN 1
#endif

namespace {

using namespace ube::test;

/// Resident set size in bytes, from /proc/self/statm.
size_t residentBytes() {
  long pages = 0, resident = 0;
  FILE *f = std::fopen("/proc/self/statm", "r");
  if (!f || std::fscanf(f, "%ld %ld", &pages, &resident) != 2)
    resident = 0;
  if (f)
    std::fclose(f);
  return size_t(resident) * size_t(sysconf(_SC_PAGESIZE));
}

size_t openFileCount() {
  size_t n = 0;
  if (DIR *d = opendir("/proc/self/fd")) {
    while (readdir(d))
      ++n;
    closedir(d);
  }
  return n;
}

void expectFlat(size_t before, size_t after, const char *what) {
  // The figures, for the record (docs/security.md quotes a run).
  std::printf("[ stress   ] %s: resident %.1f -> %.1f MiB\n", what, before / 1048576.0,
              after / 1048576.0);
#ifdef UBE_UNDER_ASAN
  (void)before, (void)after, (void)what; // LeakSanitizer checks at exit instead.
#else
  // Growth allowed between the warm-up and the end of a run, for the heap's
  // layout (which earlier tests in the process change): well below what any
  // per-call leak (at least one buffer of the example, 128 bytes, times
  // 49,000 calls: 6 MiB) or per-load leak (a mapped object, tens of kB,
  // times 1,000) adds.
  constexpr size_t kAllowedGrowth = 1 << 20;
  EXPECT_LE(after, before + kAllowedGrowth)
      << what << ": resident size grew from " << before << " to " << after << " bytes";
#endif
}

using RuntimeStressTest = MlpTest;

TEST_F(RuntimeStressTest, FiftyThousandInvocationsKeepMemoryFlat) {
  auto x = input(7);
  std::vector<int64_t> labels = {0, 1, 2, 3, 3, 2, 1, 0};
  const float expected = loss(x, labels);
  constexpr int kWarmup = 1000, kRuns = 50000;
  for (int i = 0; i < kWarmup; ++i)
    loss(x, labels);
  size_t before = residentBytes(), files = openFileCount();
  int mismatches = 0;
  for (int i = kWarmup; i < kRuns; ++i)
    mismatches += loss(x, labels) != expected;
  EXPECT_EQ(mismatches, 0);
  expectFlat(before, residentBytes(), "50,000 invocations");
  EXPECT_EQ(openFileCount(), files);
}

TEST_F(RuntimeStressTest, EightThreadsGetIdenticalResults) {
  auto x = input(3);
  std::vector<int64_t> labels = {3, 2, 1, 0, 0, 1, 2, 3};
  const auto expectedProbs = predict(x);
  const float expectedLoss = loss(x, labels);
  constexpr int kThreads = 8, kRuns = 250;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      auto local = x;
      for (int r = 0; r < kRuns; ++r) {
        // Alternate the two entry points so that they also run concurrently.
        if ((r + t) % 2 ? predict(local) != expectedProbs : loss(local, labels) != expectedLoss)
          ++mismatches[t];
      }
    });
  for (auto &thread : threads)
    thread.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST(RuntimeStress, LoadAndUnloadAThousandTimes) {
  ube_device *device;
  expectOk(ube_device_open("cpu", &device));
  auto load = [&] {
    ube_executable *exe = nullptr;
    expectOk(ube_executable_load_file(device, UBE_TEST_MLP_EXECUTABLE, &exe));
    return exe;
  };
  for (int i = 0; i < 20; ++i)
    ube_executable_release(load());
  size_t before = residentBytes(), files = openFileCount();
  for (int i = 0; i < 1000; ++i) {
    ube_executable *exe = load();
    ASSERT_EQ(ube_executable_function_count(exe), 2u);
    ube_executable_release(exe);
  }
  expectFlat(before, residentBytes(), "1,000 loads");
  EXPECT_EQ(openFileCount(), files);
  ube_device_release(device);
}

} // namespace
